// Update and condition expressions with their attribute-name (#…) and value (:…) placeholders.

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
export class SetExpression {
  readonly names: Record<string, string>;
  readonly values: Record<string, unknown>;
  private readonly clauses: string[] = [];
  private fieldCount = 0;

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

  /** Appends one entry to the item's status_history. */
  history(entry: Record<string, unknown>): this {
    this.values[':h'] = [entry];
    return this.set('status_history = list_append(status_history, :h)');
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
    return {
      UpdateExpression: `SET ${this.clauses.join(', ')}`,
      ExpressionAttributeNames: this.names,
      ExpressionAttributeValues: this.values,
    };
  }
}
