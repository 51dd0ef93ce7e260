// Workflow inputs carry a version: a run started by a newer engine with an input this code
// does not know fails at once, with a reason, instead of misreading it.
import { ApplicationFailure } from '@temporalio/workflow';
import { WORKFLOW_INPUT_VERSION } from '../src/contracts';

export function checkInputVersion(version: number): void {
  if (version !== WORKFLOW_INPUT_VERSION) {
    throw ApplicationFailure.nonRetryable(`unsupported input version ${version}`, 'UnsupportedVersion');
  }
}
