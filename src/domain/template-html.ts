// Escaping in the HTML part, done once. liquidjs's outputEscape escapes whatever an output
// produces, so `{{ company | escape }}` came out escaped twice, `{{ note | newline_to_br }}` showed
// its `<br />` as text, and a capture's markup was escaped when output. Here the filters that make
// markup (escape, escape_once, newline_to_br) and capture return a SafeHtml value, whose own input
// is escaped, and the output escape passes SafeHtml through and escapes everything else. Nothing a
// recipient's data holds ever becomes SafeHtml without being escaped first, so data cannot add
// markup; `raw` cannot turn text into markup either (see `raw` below).
import { Drop, defaultOperators, filters, type Comparable, type Context, type FilterImplOptions } from 'liquidjs';
import { CappedCaptureTag } from './template-output';

/** Markup the template produced, its data already escaped: output as is. */
export class SafeHtml extends Drop implements Comparable {
  constructor(readonly html: string) {
    super();
  }
  // Filters, conditions and comparisons see the markup as the string it is.
  override valueOf(): string {
    return this.html;
  }
  override toString(): string {
    return this.html;
  }
  toJSON(): string {
    return this.html;
  }
  /** `{{ c.size }}` and `{{ c | size }}`, as on a string. */
  get size(): number {
    return this.html.length;
  }
  get length(): number {
    return this.html.length;
  }
  // Compared as its string, so `{% if c == blank %}` means what it means for any text.
  equals(other: unknown) {
    return compare('==', this.html, other);
  }
  gt(other: unknown) {
    return compare('>', this.html, other);
  }
  geq(other: unknown) {
    return compare('>=', this.html, other);
  }
  lt(other: unknown) {
    return compare('<', this.html, other);
  }
  leq(other: unknown) {
    return compare('<=', this.html, other);
  }
}

type Comparison = Generator<unknown, boolean, unknown>;
function compare(operator: '==' | '>' | '>=' | '<' | '<=', lhs: string, rhs: unknown): Comparison {
  const binary = defaultOperators[operator] as (l: unknown, r: unknown) => Comparison;
  return binary(lhs, rhs);
}

/** What a filter is called with (liquidjs's FilterImpl) and what it is. */
export type FilterImpl = { context: Context };
export type FilterHandler = (this: FilterImpl, value: unknown, ...args: unknown[]) => unknown;

function builtin(name: string): FilterHandler {
  const impl: FilterImplOptions | undefined = filters[name];
  if (typeof impl === 'function') return impl as FilterHandler;
  if (impl && typeof impl.handler === 'function') return impl.handler as FilterHandler;
  throw new Error(`liquidjs has no "${name}" filter`);
}

// liquidjs's own implementations (memory accounting included), wrapped below.
const escapeText = builtin('escape');
const escapeOnce = builtin('escape_once');
const newlineToBr = builtin('newline_to_br');
const defaultValue = builtin('default');

/** The HTML part's output escape: SafeHtml as it is, anything else escaped. */
export function escapeOutput(this: FilterImpl, value: unknown): string {
  return value instanceof SafeHtml ? value.html : (escapeText.call(this, value) as string);
}

/** Filters of the HTML engine that replace liquidjs's. */
export const htmlFilters: Record<string, FilterHandler> = {
  escape(this: FilterImpl, value: unknown) {
    return new SafeHtml(escapeText.call(this, value) as string);
  },
  xml_escape(this: FilterImpl, value: unknown) {
    return new SafeHtml(escapeText.call(this, value) as string);
  },
  escape_once(this: FilterImpl, value: unknown) {
    return new SafeHtml(escapeOnce.call(this, value) as string);
  },
  // The text is escaped, the <br /> it adds is markup.
  newline_to_br(this: FilterImpl, value: unknown) {
    const html = value instanceof SafeHtml ? value.html : (escapeText.call(this, value) as string);
    return new SafeHtml(newlineToBr.call(this, html) as string);
  },
  // liquidjs's `raw` skips the output escape, which would print a recipient's data as markup.
  // Here it changes nothing: markup the template made (SafeHtml) is output as is anyway, and
  // text is escaped. Markup belongs in the template's own text.
  raw(value: unknown) {
    return value;
  },
  // `{{ c | default: "" }}` keeps the capture it returns as markup.
  default(this: FilterImpl, value: unknown, ...args: unknown[]) {
    const result: unknown = defaultValue.call(this, value, ...args);
    return value instanceof SafeHtml && result === value.html ? value : result;
  },
};

/** `{% capture %}` in the HTML part: what it collected was rendered (and escaped) there, so it is markup. */
export class HtmlCaptureTag extends CappedCaptureTag {
  protected override captured(text: string): unknown {
    return new SafeHtml(text);
  }
}
