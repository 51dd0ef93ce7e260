// Key layout of the single table (see DESIGN.md, "Data").
export const keys = {
  tenant: (tenantId: string) => ({ PK: `TENANT#${tenantId}`, SK: 'METADATA' }),
  apiKey: (hash: string) => ({ PK: `APIKEY#${hash}`, SK: 'METADATA' }),
  template: (templateId: string) => ({ PK: `TEMPLATE#${templateId}`, SK: 'METADATA' }),
  file: (fileId: string) => ({ PK: `FILE#${fileId}`, SK: 'METADATA' }),
  idempotency: (tenantId: string, keyHash: string) => ({ PK: `IDEMPOTENCY#${tenantId}#${keyHash}`, SK: 'METADATA' }),
  transaction: (transactionId: string) => ({ PK: `TRANSACTION#${transactionId}`, SK: 'METADATA' }),
  batch: (transactionId: string, batchId: string) => ({ PK: `TRANSACTION#${transactionId}`, SK: `BATCH#${batchId}` }),
  rowError: (transactionId: string, row: number) => ({
    PK: `TRANSACTION#${transactionId}`,
    SK: `ERROR#${String(row).padStart(10, '0')}`,
  }),
  batchPartition: (transactionId: string, batchId: string) => `BATCH#${transactionId}#${batchId}`,
  message: (transactionId: string, batchId: string, messageId: string) => ({
    PK: `BATCH#${transactionId}#${batchId}`,
    SK: `MESSAGE#${messageId}`,
  }),
  // One partition per tenant (not one per address as the seeds had) so the list can be paged.
  suppression: (tenantId: string, email: string) => ({ PK: `SUPPRESSION#${tenantId}`, SK: `EMAIL#${email}` }),
};

/** Message ids carry their batch so a message is found from its id alone. */
export const messageIdFor = (batchId: string, row: number) => `${batchId}-r${String(row).padStart(9, '0')}`;
export function batchIdOfMessage(messageId: string): string | undefined {
  const match = /^(b\d{5})-r\d{9}$/.exec(messageId);
  return match?.[1];
}
