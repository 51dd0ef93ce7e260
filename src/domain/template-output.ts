// The limits on what a template renders (see template.ts): the output cap per part, applied
// while the output is produced, the bound on renders running at once, and the lower bound on
// output that confirm checks before any recipient is rendered.
//
// liquidjs's memoryLimit charges filters and ranges but not literal text or `{{ }}` output, so a
// small loop around a large literal would otherwise render hundreds of MB per recipient. Each
// part renders into an emitter that counts UTF-8 bytes as they are written and stops the render
// past MAX_RENDERED_PART_BYTES; `capture` blocks (which liquidjs renders into an unbounded
// buffer of their own) draw on the same budget.
import {
  BreakTag,
  CaptureTag,
  ContinueTag,
  Drop,
  ForTag,
  IfTag,
  TypeGuards,
  toValueSync,
  type Context,
  type Emitter,
  type Template,
  type Token,
} from 'liquidjs';

/**
 * Most UTF-8 bytes one part (subject, HTML or text) may render to, captures included. 1 MiB is
 * ten times the size past which Gmail clips a message and twice the largest template upload
 * (MAX_TEMPLATE_BYTES, 512 KiB), so no sane email comes near it; HTML and text at the cap,
 * MIME-encoded (about ×1.37), stay under 3 MB, far below SES's 40 MB message limit (and the
 * 10 MB many receiving servers accept); and a render stopped at the cap has cost the worker
 * a few MB at most.
 */
export const MAX_RENDERED_PART_BYTES = 1024 * 1024;
/**
 * Renders running at once in one process. Rendering is CPU work on the one JS thread, so more
 * would gain nothing; the bound keeps the memory of renders in progress at a few times
 * MAX_RENDERED_PART_BYTES whatever the send concurrency.
 */
export const MAX_CONCURRENT_RENDERS = 2;

// ---- the output cap ----

/** Thrown by a capped emitter; the render stops at the write that would pass the cap. */
export class OutputTooLarge extends Error {
  constructor() {
    super(`output larger than ${MAX_RENDERED_PART_BYTES} bytes`);
    this.name = 'OutputTooLarge';
  }
}

/** The bytes one part has produced so far, output and captures alike. */
export class OutputBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  charge(chunk: string): void {
    // Buffer.byteLength measures without copying, so an oversized chunk costs nothing more.
    this.used += Buffer.byteLength(chunk, 'utf8');
    if (this.used > this.limit) throw new OutputTooLarge();
  }
}

export const OUTPUT_BUDGET = 'email-engine:output-budget';

// As liquidjs's own emitter stringifies (Drops by valueOf, nil as '', arrays joined).
function stringify(value: unknown): string {
  const v = value instanceof Drop && typeof value.valueOf === 'function' ? value.valueOf() : value;
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  return String(v);
}

export class CappedEmitter implements Emitter {
  buffer = '';
  constructor(private readonly budget: OutputBudget) {}
  write(html: unknown): void {
    const chunk = stringify(html);
    this.budget.charge(chunk);
    this.buffer += chunk;
  }
}

/** `{% capture %}` as liquidjs has it, but into a capped emitter on the part's budget. */
export class CappedCaptureTag extends CaptureTag {
  override *render(ctx: Context): Generator<unknown, void, string> {
    const budget = ctx.getRegister<OutputBudget | undefined>(OUTPUT_BUDGET) ?? new OutputBudget(MAX_RENDERED_PART_BYTES);
    const emitter = new CappedEmitter(budget);
    yield this.liquid.renderer.renderTemplates(this.templates, ctx, emitter);
    (ctx.bottom() as Record<string, unknown>)[this.variable] = this.captured(emitter.buffer);
  }

  /** The value the variable gets: the text itself here (the HTML part marks it as markup). */
  protected captured(text: string): unknown {
    return text;
  }
}

/** A counting semaphore: at most `limit` holders at once, the others wait in order. */
function semaphore(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active += 1;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active -= 1;
    }
  };
}

export const renderSlot = semaphore(MAX_CONCURRENT_RENDERS);

// ---- what can be refused before any recipient: output every render produces ----

/**
 * Bytes that every render of `templates` produces whatever the data: literal text, multiplied
 * by loops over literal ranges (`(1..2000)`, with literal `offset`/`limit`), and captures (which
 * draw on the same budget). Anything that depends on data counts zero, so this is a lower
 * bound: past the cap, every recipient's render would fail.
 */
function guaranteedBytes(templates: Template[]): number {
  let total = 0;
  for (const t of templates) total += guaranteedBytesOf(t);
  return total;
}

export function guaranteedBytesOf(t: Template): number {
  if (TypeGuards.isHTMLToken(t.token)) return Buffer.byteLength((t as unknown as { str?: string }).str ?? '', 'utf8');
  if (t instanceof ForTag) {
    const iterations = literalIterations(t);
    if (iterations === undefined) return 0;
    if (iterations === 0) return guaranteedBytes(t.elseTemplates);
    // A break or continue may cut any iteration short.
    return hasLoopControl(t.templates) ? 0 : iterations * guaranteedBytes(t.templates);
  }
  if (t instanceof CaptureTag) return guaranteedBytes(t.templates);
  if (t instanceof IfTag && t.elseTemplates !== undefined) {
    // Exactly one branch renders: the least of them is certain.
    return Math.min(guaranteedBytes(t.elseTemplates), ...t.branches.map((b) => guaranteedBytes(b.templates)));
  }
  return 0;
}

/** How many times a `for` over a literal range runs, or undefined when that depends on data. */
function literalIterations(t: ForTag): number | undefined {
  const collection: Token = t.collection;
  if (!TypeGuards.isRangeToken(collection)) return undefined;
  const { lhs, rhs } = collection;
  if (!TypeGuards.isNumberToken(lhs) || !TypeGuards.isNumberToken(rhs)) return undefined;
  let n = Math.max(0, Math.ceil(rhs.content + 1 - lhs.content));
  // liquidjs applies offset, then limit.
  for (const key of ['offset', 'limit'] as const) {
    if (!(key in t.hash.hash)) continue;
    const value = t.hash.hash[key];
    if (!value || !TypeGuards.isNumberToken(value) || value.content < 0) return undefined;
    n = key === 'offset' ? Math.max(0, n - Math.floor(value.content)) : Math.min(n, Math.floor(value.content));
  }
  return n;
}

/** A break or continue that applies to the loop whose body this is (a nested `for` keeps its own). */
function hasLoopControl(templates: Template[]): boolean {
  return templates.some((t) => {
    if (t instanceof BreakTag || t instanceof ContinueTag) return true;
    if (t instanceof ForTag || typeof t.children !== 'function') return false;
    try {
      return hasLoopControl(toValueSync(t.children(false, true)));
    } catch {
      return true;
    }
  });
}
