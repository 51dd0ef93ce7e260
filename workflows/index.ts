// Entry point the worker bundles: every workflow type the engine runs.
export { transactionWorkflow } from './transaction.workflow';
export { batchWorkflow } from './batch.workflow';
