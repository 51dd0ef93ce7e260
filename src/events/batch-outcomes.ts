// A batch's outcome count, written in sums (issue 18, item 2: no hot item). The count exists
// only to wake the batch workflow once every sent message has an outcome (outcome-signaller.ts);
// the batch's recount from its messages is what is exact. Writing it once per event made each
// batch record take one write per message of the batch; here the outcomes a process sees for a
// batch within `flushMs` go in one ADD (src/sums.ts), so a batch record takes at most one write
// per `flushMs` per API process, at any event rate. The ADD's answer says whether the count
// reached what the batch awaits; the one sum that brings it there wakes the batch (DynamoDB
// applies the ADDs one after another, so exactly one sees the equality).
//
// A sum waits `flushMs` unless it may complete the count: once an ADD's answer told this process
// what the batch awaits, a note that brings what it knows of the count there (its last answer
// plus what waits) writes at once, so the batch's wake is not late by the interval (with several
// API processes, the others' sums make the count higher than this one knows: then the last sum
// may wait its interval).
//
// A process that dies with sums not yet written loses them: the count stays short, no wake
// comes, and the batch recounts at its poll (OUTCOME_POLL_SECONDS, backing off), as it does
// for a signal that was lost. Nothing is counted twice: each note is one message's first outcome.
import type { Batches } from '../ports';
import type { Logger } from '../logging';
import { Sums } from '../sums';

/** Batches whose awaited count a process keeps (a few bytes each). */
const KNOWN_BATCHES = 10_000;

export interface OutcomeNotes {
  /** One more outcome for the batch (its message's first). Never throws; the write happens later. */
  note(transactionId: string, batchId: string): void;
}

export class BatchOutcomeSums implements OutcomeNotes {
  private readonly sums: Sums<{ transactionId: string; batchId: string }>;
  /** Per batch, the count and what it awaits as the last ADD answered (only once it awaits; the oldest forgotten first). */
  private readonly known = new Map<string, { outcomes: number; awaiting: number }>();

  constructor(
    batches: Pick<Batches, 'addBatchOutcome'>,
    /** Called once the count reaches what the batch awaits. */
    onComplete: (transactionId: string, batchId: string) => void,
    log: Logger,
    flushMs: number,
  ) {
    this.sums = new Sums(flushMs, async ({ transactionId, batchId }, n) => {
      try {
        const batch = await batches.addBatchOutcome(transactionId, batchId, n);
        if (batch.awaiting !== undefined) this.remember(`${transactionId}|${batchId}`, batch.outcomes, batch.awaiting);
        if (batch.awaiting !== undefined && batch.outcomes === batch.awaiting) onComplete(transactionId, batchId);
      } catch (error) {
        log.warn('batch outcome count not updated', {
          transaction_id: transactionId,
          batch_id: batchId,
          outcomes: n,
          error: (error as Error).message,
        });
        throw error;
      }
    });
  }

  /** Sums written so far. */
  get writes(): number {
    return this.sums.writes;
  }

  note(transactionId: string, batchId: string): void {
    const key = `${transactionId}|${batchId}`;
    void this.sums.add(key, { transactionId, batchId });
    const known = this.known.get(key);
    if (known && known.outcomes + this.sums.pendingOf(key) >= known.awaiting) this.sums.flush(key);
  }

  private remember(key: string, outcomes: number, awaiting: number): void {
    this.known.delete(key);
    if (outcomes >= awaiting) return; // complete: nothing more to wait for
    this.known.set(key, { outcomes, awaiting });
    if (this.known.size > KNOWN_BATCHES) this.known.delete(this.known.keys().next().value!);
  }

  /** Writes every sum still waiting, and waits for the writes under way (at the API's stop). */
  close(): Promise<void> {
    return this.sums.close();
  }
}
