// Key layout of the single table (see DESIGN.md, "Data"): every PK, SK and index key is built here.
const metadata = (PK: string) => ({ PK, SK: 'METADATA' });
const transactionPartition = (transactionId: string) => `TRANSACTION#${transactionId}`;
const batchPartition = (transactionId: string, batchId: string) => `BATCH#${transactionId}#${batchId}`;
const suppressionPartition = (tenantId: string) => `SUPPRESSION#${tenantId}`;
const SK_PREFIX = { batch: 'BATCH#', rowError: 'ERROR#', message: 'MESSAGE#', email: 'EMAIL#' } as const;

export const keys = {
  tenant: (tenantId: string) => metadata(`TENANT#${tenantId}`),
  apiKey: (hash: string) => metadata(`APIKEY#${hash}`),
  template: (templateId: string) => metadata(`TEMPLATE#${templateId}`),
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
};

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
};

/** Message ids carry their batch so a message is found from its id alone. */
export const messageIdFor = (batchId: string, row: number) => `${batchId}-r${String(row).padStart(9, '0')}`;
export function batchIdOfMessage(messageId: string): string | undefined {
  const match = /^(b\d{5})-r\d{9}$/.exec(messageId);
  return match?.[1];
}
