// Campaign templates (Liquid, via liquidjs): syntax check with placeholder discovery, and
// sandboxed rendering of subject, HTML and text parts for one recipient at a time. What a part
// may render is capped while it renders (template-output.ts); which placeholders are required or
// optional is found by walking the parsed template (template-placeholders.ts); the HTML part
// escapes once (template-html.ts); dates render in UTC or the render's time zone (template-dates.ts).
import { Context, ForTag, Liquid, UndefinedVariableError, toPromise, type FS, type Template } from 'liquidjs';
import { DEFAULT_TIME_ZONE, TIME_ZONE_REGISTER, dateFilters, isTimeZone } from './template-dates';
import { HtmlCaptureTag, escapeOutput, htmlFilters } from './template-html';
import { placeholderUse, renderData, type PlaceholderUse } from './template-placeholders';
import {
  CappedCaptureTag,
  CappedEmitter,
  MAX_RENDERED_PART_BYTES,
  OUTPUT_BUDGET,
  OutputBudget,
  OutputTooLarge,
  guaranteedBytesOf,
  renderSlot,
} from './template-output';

export { MAX_CONCURRENT_RENDERS, MAX_RENDERED_PART_BYTES } from './template-output';
export { DEFAULT_TIME_ZONE, isTimeZone } from './template-dates';

// Upper bounds for untrusted templates; liquidjs enforces them per parse/render call.
export const PARSE_LIMIT = 1_000_000; // characters per part
export const RENDER_LIMIT_MS = 2_000; // shared by all parts of one message
export const MEMORY_LIMIT = 10_000_000; // liquidjs allocation units per part
export const MAX_SUBJECT_LENGTH = 998; // RFC 5322 line-length limit
/** The most UTF-8 bytes a part within PARSE_LIMIT can take (3 per UTF-16 unit): a larger source can never compile. */
export const MAX_SOURCE_BYTES = 3 * PARSE_LIMIT;

export type TemplateParts = { html: string; subject: string; text?: string };

type PartName = 'html' | 'subject' | 'text';

export type ParseFailure = {
  ok: false;
  /**
   * Set when the template parses but can never render: every recipient would pass the output cap
   * (RENDER_TOO_LARGE), or it reads a placeholder both as a value and as an object of fields, which
   * no flat CSV row can supply (PLACEHOLDER_CONFLICT: `{{ user }}` and `{{ user.name }}`).
   */
  code?: 'RENDER_TOO_LARGE' | 'PLACEHOLDER_CONFLICT';
  part: PartName;
  line: number;
  column: number;
  message: string;
};
export type ParseResult =
  | {
      ok: true;
      /** The top-level names the template reads (`user` for `user.name`), required or not. */
      placeholders: string[];
      /** Column paths every recipient must supply, non-blank (`user.name` is the column "user.name"). */
      required: string[];
      /** Column paths read only where Liquid lets them be missing: a recipient may leave them blank or out. */
      optional: string[];
    }
  | ParseFailure;

export type TemplateRenderErrorCode =
  'UNDEFINED_VARIABLE' | 'RENDER_LIMIT' | 'MEMORY_LIMIT' | 'RENDER_TOO_LARGE' | 'RENDER_FAILED' | 'TEMPLATE_INVALID';

/** Where a render failed: the part, and the line and column when liquidjs knows the token. */
export type RenderErrorPosition = { part: PartName; line?: number; column?: number };

export class TemplateRenderError extends Error {
  constructor(
    readonly code: TemplateRenderErrorCode,
    message: string,
    /** Set for errors of a render (a preview reports it); absent for a template that cannot be used at all. */
    readonly position?: RenderErrorPosition,
  ) {
    super(message);
    this.name = 'TemplateRenderError';
  }
}

export interface RenderOptions {
  /** IANA time zone the date filters render in (default UTC), whatever the host's. */
  timeZone?: string;
}

export interface CompiledTemplate {
  /** `data` is a recipient row (blank cells count as missing; dotted column names nest) plus what the engine adds. */
  render(data: Record<string, unknown>, options?: RenderOptions): Promise<{ subject: string; html: string; text?: string }>;
}

// Belt and braces behind the disabled partial tags below: even if some code path tried
// to load a template file, this file system has no files.
const noFileSystem: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (file) => {
    throw new Error(`templates cannot read files (${file})`);
  },
  readFileSync: (file) => {
    throw new Error(`templates cannot read files (${file})`);
  },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
};

// Templates come from API users, so anything that reaches outside the template text
// (files, prototype properties) is off, and typos fail loudly instead of rendering blanks;
// lenientIf lets conditions and a leading `default` read a missing variable as nil, as Liquid
// authors expect (and the placeholder walk counts on).
function createEngine(kind: 'html' | 'plain'): Liquid {
  const engine = new Liquid({
    strictVariables: true,
    lenientIf: true,
    strictFilters: true,
    ownPropertyOnly: true,
    parseLimit: PARSE_LIMIT,
    renderLimit: RENDER_LIMIT_MS,
    memoryLimit: MEMORY_LIMIT,
    cache: false,
    relativeReference: false,
    root: [],
    partials: [],
    layouts: [],
    fs: noFileSystem,
    ...(kind === 'html' ? { outputEscape: escapeOutput } : {}),
  });
  // Rejecting these at parse time gives the author a positioned syntax error up front,
  // instead of every recipient failing at send time.
  for (const tag of ['include', 'render', 'layout']) {
    engine.registerTag(tag, {
      parse() {
        throw new Error(`the "${tag}" tag is not supported: templates cannot load other templates`);
      },
      render() {
        return '';
      },
    });
  }
  for (const [name, filter] of Object.entries(dateFilters)) engine.registerFilter(name, filter);
  if (kind === 'html') for (const [name, filter] of Object.entries(htmlFilters)) engine.registerFilter(name, filter);
  engine.registerTag('capture', kind === 'html' ? HtmlCaptureTag : CappedCaptureTag);
  return engine;
}

// Only the HTML part escapes by default; subject and text are not HTML, so escaping
// there would show entities like "&amp;" to the reader.
const htmlEngine = createEngine('html');
const plainEngine = createEngine('plain');

const engineFor = (part: PartName): Liquid => (part === 'html' ? htmlEngine : plainEngine);

type ParsedPart = { part: PartName; templates: Template[] };

function partsOf(parts: TemplateParts): Array<{ part: PartName; source: string }> {
  const list: Array<{ part: PartName; source: string }> = [
    { part: 'html', source: parts.html },
    { part: 'subject', source: parts.subject },
  ];
  if (parts.text !== undefined) list.push({ part: 'text', source: parts.text });
  return list;
}

function parseAll(parts: TemplateParts): ParsedPart[] | ParseFailure {
  const parsed: ParsedPart[] = [];
  for (const { part, source } of partsOf(parts)) {
    if (source.length > PARSE_LIMIT) {
      return {
        ok: false,
        part,
        line: 1,
        column: 1,
        message: `template is too long (${source.length} characters; at most ${PARSE_LIMIT})`,
      };
    }
    try {
      parsed.push({ part, templates: engineFor(part).parse(source) });
    } catch (error) {
      return { ok: false, part, ...describeParseError(error) };
    }
  }
  return parsed;
}

function tooLargeForAnyone(part: PartName, templates: Template[]): ParseFailure | undefined {
  let total = 0;
  for (const t of templates) {
    total += guaranteedBytesOf(t);
    if (total <= MAX_RENDERED_PART_BYTES) continue;
    const where = positionOf({ token: t.token }) ?? { line: 1, column: 1 };
    return {
      ok: false,
      code: 'RENDER_TOO_LARGE',
      part,
      ...where,
      message:
        `renders at least ${total} bytes for every recipient (${t instanceof ForTag ? 'the loop' : 'the text'} at ` +
        `line ${where.line}, column ${where.column}); a part may render at most ${MAX_RENDERED_PART_BYTES} bytes`,
    };
  }
  return undefined;
}

export function parseTemplate(parts: TemplateParts): ParseResult {
  const parsed = parseAll(parts);
  if (!Array.isArray(parsed)) return parsed;

  // Variables the render data must supply (loop variables, assign/capture targets and forloop
  // are the template's own), per part, then for the message: required if any part requires it.
  const uses: Array<{ part: PartName; use: PlaceholderUse }> = [];
  for (const { part, templates } of parsed) {
    const tooLarge = tooLargeForAnyone(part, templates);
    if (tooLarge) return tooLarge;
    try {
      uses.push({ part, use: placeholderUse(templates) });
    } catch (error) {
      return { ok: false, part, ...describeParseError(error) };
    }
  }
  const all = new Set(uses.flatMap(({ use }) => [...use.all]));
  const required = new Set(uses.flatMap(({ use }) => [...use.required]));
  const conflict = conflictIn(uses, all, required);
  if (conflict) return conflict;
  const sorted = (names: Iterable<string>) => [...names].sort();
  return {
    ok: true,
    placeholders: sorted(new Set([...all].map((path) => path.split('.', 1)[0]!))),
    required: sorted(required),
    optional: sorted([...all].filter((path) => !required.has(path))),
  };
}

/** A required `user` read beside `user.name`: the column "user" holds text, which has no fields. */
function conflictIn(
  uses: Array<{ part: PartName; use: PlaceholderUse }>,
  all: Set<string>,
  required: Set<string>,
): ParseFailure | undefined {
  for (const path of [...all].sort()) {
    const segments = path.split('.');
    for (let n = 1; n < segments.length; n++) {
      const prefix = segments.slice(0, n).join('.');
      if (!required.has(prefix)) continue;
      const at = uses.find(({ use }) => use.firstRequired.has(prefix))!;
      const where = positionOf({ token: at.use.firstRequired.get(prefix) }) ?? { line: 1, column: 1 };
      return {
        ok: false,
        code: 'PLACEHOLDER_CONFLICT',
        part: at.part,
        ...where,
        message:
          `"${prefix}" is read as a value here and "${path}" as a field of it, but a column of the recipient file ` +
          `holds text, which has no fields: rename one of them`,
      };
    }
  }
  return undefined;
}

/** Compiles a confirmed template; a syntax error is a TemplateRenderError with code TEMPLATE_INVALID. */
export function compileTemplate(parts: TemplateParts): CompiledTemplate {
  const parsed = parseAll(parts);
  if (!Array.isArray(parsed)) {
    throw new TemplateRenderError(
      'TEMPLATE_INVALID',
      `Template ${parsed.part} has a syntax error at line ${parsed.line}, column ${parsed.column}: ${parsed.message}`,
    );
  }
  const find = (part: PartName) => parsed.find((p) => p.part === part)?.templates;
  const html = find('html') ?? [];
  const subject = find('subject') ?? [];
  const text = find('text');

  return {
    render(row, options = {}) {
      const timeZone = options.timeZone ?? DEFAULT_TIME_ZONE;
      if (!isTimeZone(timeZone)) return Promise.reject(new TemplateRenderError('RENDER_FAILED', `Unknown time zone "${timeZone}".`));
      const data = renderData(row);
      return renderSlot(async () => {
        // One time budget for the whole message, so a three-part template cannot take
        // three times as long as the limit suggests.
        const deadline = performance.now() + RENDER_LIMIT_MS;
        const at = { data, deadline, timeZone };
        const renderedSubject = cleanSubject(await renderPart('subject', subject, at));
        const renderedHtml = await renderPart('html', html, at);
        if (text === undefined) return { subject: renderedSubject, html: renderedHtml };
        const renderedText = await renderPart('text', text, at);
        return { subject: renderedSubject, html: renderedHtml, text: renderedText };
      });
    },
  };
}

/** A template that cannot be used (it no longer compiles, or its content is gone): every render fails with `error`. */
export function unusableTemplate(error: TemplateRenderError): CompiledTemplate {
  return { render: () => Promise.reject(error) };
}

type RenderAt = { data: Record<string, unknown>; deadline: number; timeZone: string };

async function renderPart(part: PartName, templates: Template[], { data, deadline, timeZone }: RenderAt): Promise<string> {
  const engine = engineFor(part);
  const remaining = Math.max(1, Math.floor(deadline - performance.now()));
  const budget = new OutputBudget(MAX_RENDERED_PART_BYTES);
  const emitter = new CappedEmitter(budget);
  try {
    // What engine.render does, with an emitter of ours, the budget where captures find it and
    // the time zone where the date filters do.
    const ctx = new Context(data, engine.options, { renderLimit: remaining, sync: false }, { liquid: engine });
    ctx.setRegister(OUTPUT_BUDGET, budget);
    ctx.setRegister(TIME_ZONE_REGISTER, timeZone);
    await toPromise(engine.renderer.renderTemplates(templates, ctx, emitter));
    return emitter.buffer;
  } catch (error) {
    throw toRenderError(part, error);
  }
}

// A subject is a single header line: a CR or LF in recipient data would let it inject
// headers (e.g. "Bcc:"), and other control characters are invalid there anyway. C1
// controls and Unicode line separators go too, as some clients break lines on them.
const SUBJECT_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;

function cleanSubject(raw: string): string {
  const flat = raw.replace(SUBJECT_CONTROL, ' ').trim();
  if (flat.length <= MAX_SUBJECT_LENGTH) return flat;
  let cut = MAX_SUBJECT_LENGTH;
  // Never split a surrogate pair: half an emoji is not valid UTF-8 once encoded.
  const last = flat.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return flat.slice(0, cut).trimEnd();
}

function toRenderError(part: PartName, error: unknown): TemplateRenderError {
  const message = stripPosition(errorMessage(error));
  const where = positionOf(error);
  const at = where ? ` (line ${where.line}, column ${where.column})` : '';
  const fail = (code: TemplateRenderErrorCode, text: string) => new TemplateRenderError(code, text, { part, ...where });

  if (causeChain(error).some((e) => e instanceof OutputTooLarge)) {
    return fail('RENDER_TOO_LARGE', `The ${part} renders to more than ${MAX_RENDERED_PART_BYTES} bytes, the limit per part${at}.`);
  }
  // liquidjs raises limits as AssertionErrors wrapped in a RenderError, so the message
  // text is the only stable signal.
  const messages = causeChain(error).map(errorMessage);
  if (messages.some((m) => m.includes('template render limit exceeded'))) {
    return fail('RENDER_LIMIT', `Rendering the ${part} took longer than ${RENDER_LIMIT_MS} ms.`);
  }
  if (messages.some((m) => m.includes('memory alloc limit exceeded'))) {
    return fail('MEMORY_LIMIT', `Rendering the ${part} used too much memory.`);
  }
  const undefinedVariable = causeChain(error).some(
    (e) =>
      e instanceof UndefinedVariableError ||
      (e instanceof Error && (e.name === 'UndefinedVariableError' || e.name === 'InternalUndefinedVariableError')),
  );
  if (undefinedVariable) {
    return fail('UNDEFINED_VARIABLE', `The ${part} uses an ${message}${at}.`);
  }
  return fail('RENDER_FAILED', `Rendering the ${part} failed: ${message}${at}.`);
}

function describeParseError(error: unknown): { line: number; column: number; message: string } {
  const where = positionOf(error) ?? { line: 1, column: 1 };
  return { ...where, message: stripPosition(errorMessage(error)) };
}

// LiquidError carries the offending token; getPosition() is already 1-based.
function positionOf(error: unknown): { line: number; column: number } | undefined {
  const token = (error as { token?: { getPosition?: () => number[] } } | null)?.token;
  if (typeof token?.getPosition !== 'function') return undefined;
  const [line, column] = token.getPosition();
  if (typeof line !== 'number' || typeof column !== 'number') return undefined;
  return { line, column };
}

// liquidjs appends ", line:N, col:M" (and a file name) to messages; we report those
// as fields instead.
function stripPosition(message: string): string {
  return message.replace(/(?:, file:.*?)?, line:\d+, col:\d+$/, '');
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 10) {
    chain.push(current);
    current = (current as { originalError?: unknown }).originalError;
  }
  return chain;
}
