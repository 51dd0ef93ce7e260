// Key layout of the single table (see DESIGN.md, "Data"): every PK, SK and index key is built here.
const metadata = (PK: string) => ({ PK, SK: 'METADATA' });
const transactionPartition = (transactionId: string) => `TRANSACTION#${transactionId}`;
const batchPartition = (transactionId: string, batchId: string) => `BATCH#${transactionId}#${batchId}`;
const suppressionPartition = (tenantId: string) => `SUPPRESSION#${tenantId}`;
const identityPartition = (tenantId: string) => `IDENTITIES#${tenantId}`;
const IDENTITY_SK_PREFIX = 'IDENTITY#';
const SK_PREFIX = {
  batch: 'BATCH#',
  rowError: 'ERROR#',
  message: 'MESSAGE#',
  email: 'EMAIL#',
  key: 'KEY#',
  templateVersion: 'VERSION#',
} as const;
const apiKeyPartition = (tenantId: string) => `TENANT#${tenantId}#APIKEY`;
const auditPartition = (tenantId: string) => `TENANT#${tenantId}#AUDIT`;
const topicPartition = (tenantId: string) => `TOPICS#${tenantId}`;
const topicSuppressionPartition = (tenantId: string) => `SUPPRESSION_TOPIC#${tenantId}`;
const TOPIC_SK_PREFIX = 'TOPIC#';

export const keys = {
  tenant: (tenantId: string) => metadata(`TENANT#${tenantId}`),
  /** An API key's record, found from the SHA-256 of its secret. */
  apiKey: (hash: string) => metadata(`APIKEY#${hash}`),
  /** A key's entry in its tenant's list (key id → hash), written once with the key. */
  tenantApiKey: (tenantId: string, keyId: string) => ({ PK: apiKeyPartition(tenantId), SK: `${SK_PREFIX.key}${keyId}` }),
  /** Versioned by every revocation, so two revocations at once cannot both remove "another" admin key. */
  tenantApiKeyHead: (tenantId: string) => ({ PK: apiKeyPartition(tenantId), SK: 'HEAD' }),
  tenantSettings: (tenantId: string) => ({ PK: `TENANT#${tenantId}`, SK: 'SETTINGS' }),
  /** Append-only; time-sortable within the tenant (an ISO time, then a ULID for entries of the same millisecond). */
  auditEntry: (tenantId: string, at: string, auditId: string) => ({ PK: auditPartition(tenantId), SK: `${at}#${auditId}` }),
  template: (templateId: string) => metadata(`TEMPLATE#${templateId}`),
  // Template versions and listing (issue 15, item 2). Version 1 is the template record itself;
  // version n ≥ 2 sorts after it in the template's partition (zero-padded, so in number order).
  templateVersion: (templateId: string, version: number) => ({
    PK: `TEMPLATE#${templateId}`,
    SK: `${SK_PREFIX.templateVersion}${String(version).padStart(6, '0')}`,
  }),
  /** A template's entry in the tenant index (GSI_TENANT): the tenant's templates, newest last. */
  tenantTemplate: (tenantId: string, createdAt: string, templateId: string) => ({
    GSI2PK: `TENANT#${tenantId}#TEMPLATE`,
    GSI2SK: `${createdAt}#${templateId}`,
  }),
  /** A tenant's test sends in one hour (the counter their rate limit reads). */
  testSendWindow: (tenantId: string, hour: string) => ({ PK: `TENANT#${tenantId}`, SK: `TEST_SENDS#${hour}` }),
  file: (fileId: string) => metadata(`FILE#${fileId}`),
  idempotency: (tenantId: string, keyHash: string) => metadata(`IDEMPOTENCY#${tenantId}#${keyHash}`),
  transaction: (transactionId: string) => metadata(transactionPartition(transactionId)),
  /** A transaction's entry in the tenant index (GSI_TENANT): the tenant's transactions, newest last. */
  tenantTransaction: (tenantId: string, createdAt: string, transactionId: string) => ({
    GSI2PK: `TENANT#${tenantId}#TXN`,
    GSI2SK: `${createdAt}#${transactionId}`,
  }),
  batch: (transactionId: string, batchId: string) => ({ PK: transactionPartition(transactionId), SK: `${SK_PREFIX.batch}${batchId}` }),
  rowError: (transactionId: string, row: number) => ({
    PK: transactionPartition(transactionId),
    SK: `${SK_PREFIX.rowError}${String(row).padStart(10, '0')}`,
  }),
  batchPartition,
  message: (transactionId: string, batchId: string, messageId: string) => ({
    PK: batchPartition(transactionId, batchId),
    SK: `${SK_PREFIX.message}${messageId}`,
  }),
  // One partition per tenant (not one per address as the seeds had) so the list can be paged.
  suppression: (tenantId: string, email: string) => ({ PK: suppressionPartition(tenantId), SK: `${SK_PREFIX.email}${email}` }),
  /**
   * What a tenant's deletion of a suppression leaves (issue 14, item 5), by the SHA-256 of the
   * address: its own partition, so the suppression list holds suppressions only.
   */
  suppressionTombstone: (tenantId: string, emailHash: string) => ({
    PK: `SUPPRESSION_DELETED#${tenantId}`,
    SK: `EMAIL_SHA256#${emailHash}`,
  }),
  /**
   * One soft bounce of an address (issue 17, item 2), by the SHA-256 of the address, sorted by its
   * time: the count within a window is one query. Kept by TTL only as long as the window.
   */
  softBounce: (tenantId: string, emailHash: string, at: string, sesMessageId: string) => ({
    PK: `SOFT_BOUNCES#${tenantId}#${emailHash}`,
    SK: `${at}#${sesMessageId}`,
  }),
  // Suppression import and export (issue 15, item 6): partitions of their own, so the
  // suppression list holds suppressions only.
  suppressionImport: (tenantId: string, importId: string) => ({ PK: `SUPPRESSION_IMPORT#${tenantId}`, SK: importId }),
  suppressionExport: (tenantId: string, exportId: string) => ({ PK: `SUPPRESSION_EXPORT#${tenantId}`, SK: exportId }),
  /** A sender identity in its tenant's list (what the identity API and the send path read). */
  identity: (tenantId: string, identity: string) => ({ PK: identityPartition(tenantId), SK: `${IDENTITY_SK_PREFIX}${identity}` }),
  /**
   * The claim on a registrable sender domain: which one tenant holds it and its identities under
   * it (the domain, its subdomains, addresses at them).
   */
  senderDomain: (root: string) => metadata(`SENDER_DOMAIN#${root}`),
  /** How many identities a tenant holds, and how many of them are not verified (the caps on claims). */
  identityCounts: (tenantId: string) => ({ PK: `TENANT#${tenantId}`, SK: 'IDENTITY_COUNTS' }),
  // Retention and erasure (issue 14, item 11).
  /** A tenant's retention settings: an item of its own, so seeding the tenant record keeps them. */
  tenantRetention: (tenantId: string) => ({ PK: `TENANT#${tenantId}`, SK: 'RETENTION' }),
  /** An erased recipient's suppression: the hash of the address alone, in its own partition. */
  erasedRecipient: (tenantId: string, emailHash: string) => ({ PK: `SUPPRESSION_ERASED#${tenantId}`, SK: `EMAIL_SHA256#${emailHash}` }),
  erasure: (tenantId: string, erasureId: string) => ({ PK: `ERASURE#${tenantId}`, SK: erasureId }),
  // Topics (issue 15, item 7).
  /** A topic in its tenant's list. */
  topic: (tenantId: string, name: string) => ({ PK: topicPartition(tenantId), SK: `${TOPIC_SK_PREFIX}${name}` }),
  /** How many topics a tenant has (the cap on creating more). */
  topicCount: (tenantId: string) => ({ PK: `TENANT#${tenantId}`, SK: 'TOPIC_COUNT' }),
  /**
   * An address suppressed for one topic only: a partition of its own per tenant, so the global
   * suppression list (SUPPRESSION#) never shows it and a global check never finds it. Address
   * first, so an erasure finds all of a person's topic suppressions in one query.
   */
  topicSuppression: (tenantId: string, topic: string, email: string) => ({
    PK: topicSuppressionPartition(tenantId),
    SK: `${SK_PREFIX.email}${email}#${TOPIC_SK_PREFIX}${topic}`,
  }),
  // Result exports (issue 15, item 5): a campaign's exports and the slots that cap how many run at once.
  campaignExport: (transactionId: string, exportId: string) => ({ PK: `EXPORTS#${transactionId}`, SK: `EXPORT#${exportId}` }),
  exportSlot: (transactionId: string, slot: number) => ({ PK: `EXPORTS#${transactionId}`, SK: `SLOT#${slot}` }),
  /** The recipient index's key (GSI_RECIPIENT), written on messages and rejected rows at ingest. */
  recipientIndex: (tenantId: string, emailHash: string) => ({ recipient_key: `${tenantId}#${emailHash}` }),
};

/** The kinds of item the recipient index holds, by their sort-key prefix. */
export const RECIPIENT_ITEM_PREFIX = { message: SK_PREFIX.message, rowError: SK_PREFIX.rowError } as const;
export type RecipientItemKind = keyof typeof RECIPIENT_ITEM_PREFIX;

/** Where the items of one kind are: their partition and the prefix of their sort keys. */
export interface KeyRange {
  PK: string;
  skPrefix: string;
}

export const ranges = {
  batches: (transactionId: string): KeyRange => ({ PK: transactionPartition(transactionId), skPrefix: SK_PREFIX.batch }),
  rowErrors: (transactionId: string): KeyRange => ({ PK: transactionPartition(transactionId), skPrefix: SK_PREFIX.rowError }),
  messages: (transactionId: string, batchId: string): KeyRange => ({
    PK: batchPartition(transactionId, batchId),
    skPrefix: SK_PREFIX.message,
  }),
  suppressions: (tenantId: string): KeyRange => ({ PK: suppressionPartition(tenantId), skPrefix: SK_PREFIX.email }),
  identities: (tenantId: string): KeyRange => ({ PK: identityPartition(tenantId), skPrefix: IDENTITY_SK_PREFIX }),
  apiKeys: (tenantId: string): KeyRange => ({ PK: apiKeyPartition(tenantId), skPrefix: SK_PREFIX.key }),
  audit: (tenantId: string): KeyRange => ({ PK: auditPartition(tenantId), skPrefix: '' }),
  templateVersions: (templateId: string): KeyRange => ({ PK: `TEMPLATE#${templateId}`, skPrefix: SK_PREFIX.templateVersion }),
  topics: (tenantId: string): KeyRange => ({ PK: topicPartition(tenantId), skPrefix: TOPIC_SK_PREFIX }),
  /** Every topic suppression of the tenant, by address. */
  topicSuppressions: (tenantId: string): KeyRange => ({ PK: topicSuppressionPartition(tenantId), skPrefix: SK_PREFIX.email }),
  /** One address's topic suppressions (a domain has no `#`, so no other address shares the prefix). */
  topicSuppressionsOf: (tenantId: string, email: string): KeyRange => ({
    PK: topicSuppressionPartition(tenantId),
    skPrefix: `${SK_PREFIX.email}${email}#${TOPIC_SK_PREFIX}`,
  }),
};

/** Message ids carry their batch so a message is found from its id alone. */
export const messageIdFor = (batchId: string, row: number) => `${batchId}-r${String(row).padStart(9, '0')}`;
export function batchIdOfMessage(messageId: string): string | undefined {
  const match = /^(b\d{5})-r\d{9}$/.exec(messageId);
  return match?.[1];
}
