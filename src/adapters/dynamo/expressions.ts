// Update and condition expressions with their attribute-name (#…) and value (:…) placeholders,
// and the bound on status_history that keeps an item inside DynamoDB's 400 KB limit.
import { boundStrings, valueSize } from '../../domain/item-size';

/**
 * How many status_history entries an item keeps. A message keeps its first 31 entries and, in
 * the 32nd slot, always the latest one (each later entry overwrites it and adds one to
 * `status_history_dropped`); a transaction likewise keeps 99 and the latest. A normal message
 * has 5 to 8 entries; only retries without end (throttling cycles, pause/resume loops) reach the cap.
 */
export const MESSAGE_HISTORY_CAP = 32;
export const TRANSACTION_HISTORY_CAP = 100;
/** The most one history entry takes: longer metadata strings are cut (see `boundHistoryEntry`). */
export const HISTORY_ENTRY_MAX_BYTES = 1024;

/**
 * `append` adds the entry (the item's history must be under the cap: the write's condition says
 * so); `last` overwrites the last kept slot (the history is at the cap); `replace` makes the
 * entry the whole history (an item compacted to fit DynamoDB's item limit).
 */
export type HistoryMode = 'append' | 'last' | 'replace';

/** A history entry of at most HISTORY_ENTRY_MAX_BYTES: metadata strings cut to 128 bytes, else metadata dropped. */
export function boundHistoryEntry(entry: Record<string, unknown>): Record<string, unknown> {
  if (valueSize(entry) <= HISTORY_ENTRY_MAX_BYTES) return entry;
  const { metadata, ...rest } = entry;
  const cut = { ...rest, metadata: { ...boundStrings((metadata ?? {}) as Record<string, unknown>, 128), truncated: true } };
  if (valueSize(cut) <= HISTORY_ENTRY_MAX_BYTES) return cut;
  return boundStrings({ ...rest, metadata: { truncated: true } }, 128);
}

/** Names each of `items` as a value `:{prefix}N` in `values`; returns `:{prefix}0, :{prefix}1, …` for an `IN (…)`. */
export function valueList(values: Record<string, unknown>, prefix: string, items: readonly unknown[]): string {
  return items
    .map((item, i) => {
      values[`:${prefix}${i}`] = item;
      return `:${prefix}${i}`;
    })
    .join(', ');
}

/**
 * A SET update expression and the placeholders it uses; a write's condition adds its own
 * placeholders to `names` and `values`.
 */
const HISTORY_CLAUSE = '\u0000history';

export class SetExpression {
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
  private readonly clauses: string[] = [];
  private fieldCount = 0;
  private historyEntry?: Record<string, unknown>;
  private historyMode: HistoryMode = 'append';
  private historyCap?: number;

  constructor(names: Record<string, string> = {}, values: Record<string, unknown> = {}) {
    this.names = { ...names };
    this.values = { ...values };
  }

  /** Adds clauses written out, e.g. `updated_at = :at`. */
  set(...clauses: string[]): this {
    this.clauses.push(...clauses);
    return this;
  }

  /** Adds `#fN = :fN` for each attribute of `fields`, or `clause('#fN', ':fN')` (e.g. to write into a map). */
  fields(fields: Record<string, unknown>, clause = (name: string, value: string) => `${name} = ${value}`): this {
    for (const [name, value] of Object.entries(fields)) {
      const i = this.fieldCount++;
      this.names[`#f${i}`] = name;
      this.values[`:f${i}`] = value;
      this.clauses.push(clause(`#f${i}`, `:f${i}`));
    }
    return this;
  }

  /** Adds one entry to the item's status_history (appended unless `capHistory` says otherwise), cut to HISTORY_ENTRY_MAX_BYTES. */
  history(entry: Record<string, unknown>): this {
    this.historyEntry = boundHistoryEntry(entry);
    return this.set(HISTORY_CLAUSE);
  }

  /**
   * Keeps status_history at most `cap` entries, writing the entry as `mode` says; returns the
   * condition the write must add (none for `replace`).
   */
  capHistory(cap: number, mode: HistoryMode): string | undefined {
    this.historyCap = cap;
    this.historyMode = mode;
    if (mode === 'replace') return undefined;
    this.values[':hcap'] = cap;
    return mode === 'append' ? 'size(status_history) < :hcap' : 'size(status_history) >= :hcap';
  }

  /** Moves `status` to `to` at `at`, with its history entry. */
  status(to: string, at: string, metadata?: Record<string, unknown>): this {
    this.names['#s'] = 'status';
    this.values[':to'] = to;
    this.values[':at'] = at;
    return this.set('#s = :to', 'updated_at = :at').history({ status: to, timestamp: at, ...(metadata ? { metadata } : {}) });
  }

  /** UpdateExpression, ExpressionAttributeNames and ExpressionAttributeValues of an UpdateCommand. */
  get params() {
    const values = { ...this.values };
    const clauses = this.clauses.map((clause) => {
      if (clause !== HISTORY_CLAUSE) return clause;
      if (this.historyMode === 'replace') {
        values[':hall'] = [this.historyEntry];
        return 'status_history = :hall';
      }
      if (this.historyMode === 'last' && this.historyCap !== undefined) {
        values[':hlast'] = this.historyEntry;
        values[':hzero'] = 0;
        values[':hone'] = 1;
        return `status_history[${this.historyCap - 1}] = :hlast, status_history_dropped = if_not_exists(status_history_dropped, :hzero) + :hone`;
      }
      values[':h'] = [this.historyEntry];
      return 'status_history = list_append(status_history, :h)';
    });
    return {
      UpdateExpression: `SET ${clauses.join(', ')}`,
      ExpressionAttributeNames: this.names,
      ExpressionAttributeValues: values,
    };
  }
}
