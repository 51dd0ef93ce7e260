// Entry point the worker bundles: every workflow type the engine runs.
export { transactionWorkflow } from './transaction.workflow';
export { batchWorkflow } from './batch.workflow';
export { erasureWorkflow } from './erasure.workflow';
export { retentionWorkflow } from './retention.workflow';
export { suppressionImportWorkflow } from './suppression-import.workflow';
export { suppressionExportWorkflow } from './suppression-export.workflow';
export { campaignExportWorkflow } from './export.workflow';
export { eventWebhookWorkflow, eventReplayWorkflow } from './event-webhook.workflow';
