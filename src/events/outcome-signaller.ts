// Wakes a batch workflow once every sent message of the batch has a delivery outcome: one
// signal per batch, not one per event (Temporal caps signals per execution, and each costs the
// batch a workflow task). A signal that cannot be delivered is retried a few times; if it is
// still lost, the batch's poll interval (OUTCOME_POLL_SECONDS) is the safety net.
import type { Client } from '@temporalio/client';
import { outcomesSignal } from '../contracts';
import type { Logger } from '../logging';

const ATTEMPTS = 3;

export class OutcomeSignaller {
  private inFlight = new Set<Promise<void>>();
  signalsSent = 0;

  constructor(
    private readonly client: Client,
    private readonly log: Logger,
  ) {}

  note(workflowId: string): void {
    const sending = this.send(workflowId).finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  private async send(workflowId: string): Promise<void> {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
      try {
        await this.client.workflow.getHandle(workflowId).signal(outcomesSignal);
        this.signalsSent += 1;
        return;
      } catch (error) {
        // A batch that already finished (deadline passed) no longer listens: nothing to do.
        const notFound = (error as Error).name === 'WorkflowNotFoundError';
        if (notFound || attempt === ATTEMPTS) {
          this.log.debug('outcome signal not delivered', { workflow_id: workflowId, error: (error as Error).message });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }
}
