// Delivery outcomes reach batch workflows as at most one signal per workflow per flush
// interval, carrying how many outcomes arrived (Temporal caps signals per execution, and a
// sustained stream of them to one workflow would swamp it). Opens and clicks never signal.
import type { Client } from '@temporalio/client';
import { outcomesSignal } from '../contracts';
import type { Logger } from '../logging';

export class SignalCoalescer {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  signalsSent = 0;

  constructor(
    private readonly client: Client,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  note(workflowId: string): void {
    this.pending.set(workflowId, (this.pending.get(workflowId) ?? 0) + 1);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, this.intervalMs);
  }

  async flush(): Promise<void> {
    const batch = [...this.pending];
    this.pending.clear();
    await Promise.all(
      batch.map(async ([workflowId, outcomes]) => {
        try {
          await this.client.workflow.getHandle(workflowId).signal(outcomesSignal, { outcomes });
          this.signalsSent += 1;
        } catch (error) {
          // A batch that already finished (deadline passed) no longer listens: nothing to do.
          this.log.debug('outcome signal not delivered', { workflow_id: workflowId, error: (error as Error).message });
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
  }
}
