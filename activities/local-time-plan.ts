// Issue 17, item 4: each recipient mailed at the campaign's send time in their own zone. Ingest
// reads the file once to count the valid rows by their local send time, then numbers the batches
// group by group in time order (a batch holds one send time), so the campaign starts its batches
// in the order they are due and a batch waiting for its time never holds up an earlier one.
import { isTimeZone, localSendTime } from '../src/domain/send-window';

export interface LocalTimeInput {
  /** The campaign's send_at: its wall-clock time in `timeZone` is each recipient's, in theirs. */
  sendAt: string;
  timeZone: string;
  /** The CSV column with each recipient's IANA zone (blank: the campaign's). */
  column: string;
}

/** The batches from `firstBatch` up to the next group's first are mailed at `sendAt`. */
export interface LocalTimeGroup {
  sendAt: string;
  firstBatch: number;
}

export const INVALID_TIME_ZONE = 'INVALID_TIME_ZONE';

/** Reads each row's send time from its zone cell; undefined for a zone the database does not know. */
export function zoneReader(
  input: LocalTimeInput,
  header: string[],
): { index: number; sendTimeOf: (record: string[]) => number | undefined } | undefined {
  const index = header.findIndex((h) => h.trim() === input.column);
  if (index < 0) return undefined;
  const sendAt = Date.parse(input.sendAt);
  const byZone = new Map<string, number | undefined>();
  return {
    index,
    sendTimeOf(record) {
      const zone = (record[index] ?? '').trim() || input.timeZone;
      if (!byZone.has(zone)) byZone.set(zone, isTimeZone(zone) ? localSendTime(sendAt, input.timeZone, zone) : undefined);
      return byZone.get(zone);
    },
  };
}

/** The batch numbering by send time: each group's batches follow the earlier groups'. */
export class LocalTimePlan {
  private readonly groups: { at: number; firstBatch: number; seen: number }[] = [];
  private readonly byTime = new Map<number, { at: number; firstBatch: number; seen: number }>();
  readonly batchCount: number;

  constructor(
    counts: Map<number, number>,
    private readonly batchSize: number,
  ) {
    let next = 1;
    for (const at of [...counts.keys()].sort((a, b) => a - b)) {
      const group = { at, firstBatch: next, seen: 0 };
      this.groups.push(group);
      this.byTime.set(at, group);
      next += Math.ceil(counts.get(at)! / batchSize);
    }
    this.batchCount = next - 1;
  }

  /** The batch of the next valid row mailed at `at` (rows come in the same order as when counted). */
  batchOf(at: number): number {
    const group = this.byTime.get(at);
    if (!group) throw new Error(`no batch group for send time ${new Date(at).toISOString()}: the file changed between two reads`);
    const batch = group.firstBatch + Math.floor(group.seen / this.batchSize);
    group.seen += 1;
    return batch;
  }

  sendAtOf(batchNumber: number): string | undefined {
    const group = [...this.groups].reverse().find((g) => g.firstBatch <= batchNumber);
    return group ? new Date(group.at).toISOString() : undefined;
  }

  summary(): LocalTimeGroup[] {
    return this.groups.map((g) => ({ sendAt: new Date(g.at).toISOString(), firstBatch: g.firstBatch }));
  }
}
