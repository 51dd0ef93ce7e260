// Which variables a template needs from every recipient, and which it can do without, found by
// walking the parsed template; and the render data a flat recipient row becomes.
//
// The engine renders with strictVariables (a typo fails loudly) and lenientIf, so a variable may
// be missing (nil) exactly where Liquid lets it: in the condition of an if/elsif/unless, in a
// case or its whens, and before a `default` that comes first in its chain. A read inside a branch
// that renders only when that same variable has a value is safe too:
// `{% if nickname %}Hi {{ nickname }}{% endif %}`, `{% unless note == blank %}…{{ note }}`,
// `{% case tier %}{% when "gold" %}{{ tier }}`. A variable read anywhere else is required: a
// recipient without it would fail at send. When the walk cannot tell (a dynamic lookup such as
// `a[key]`, a tag it does not know, an assign without `default`), the read counts as required.
//
// Names are column paths: `user.name` is the column named "user.name" (a CSV is flat; the render
// data nests dotted columns, see renderData). A path stops before an index (`items[0]` is
// `items`), a dynamic lookup, or Liquid's `size` (`name.size` is `name`).
import { CaseTag, IfTag, TypeGuards, UnlessTag, Value, isFalsy, toValueSync, type Template, type Token } from 'liquidjs';

export interface PlaceholderUse {
  /** Read somewhere without a guard: every recipient must have a (non-blank) value. */
  required: Set<string>;
  /** Every path read, guarded or not. */
  all: Set<string>;
  /** Where each required path is first read without a guard. */
  firstRequired: Map<string, Token>;
}

type Known = ReadonlySet<string>;
type Condition =
  | { kind: 'operand'; token: Token }
  | { kind: 'not'; operand: Condition }
  | { kind: 'binary'; operator: string; left: Condition; right: Condition };

const NOTHING: Known = new Set();

const union = (...sets: Known[]): Known => new Set(sets.flatMap((s) => [...s]));
const intersection = (a: Known, b: Known): Known => new Set([...a].filter((x) => b.has(x)));

/** The paths one part's templates read from the render data. */
export function placeholderUse(templates: Template[]): PlaceholderUse {
  const use: PlaceholderUse = { required: new Set(), all: new Set(), firstRequired: new Map() };
  new Walk(use).templates(templates, NOTHING);
  return use;
}

class Walk {
  /** Names assign, capture, increment and decrement set: from there on, template variables. */
  private readonly locals = new Set<string>();
  /** Loop variables of the enclosing for/tablerow blocks. */
  private readonly blocks: ReadonlySet<string>[] = [];

  constructor(private readonly use: PlaceholderUse) {}

  templates(list: Template[], known: Known): void {
    for (const t of list) this.template(t, known);
  }

  private template(t: Template, known: Known): void {
    if (t instanceof IfTag) return this.ifTag(t, known);
    if (t instanceof UnlessTag) return this.unlessTag(t, known);
    if (t instanceof CaseTag) return this.caseTag(t, known);
    // Any other tag or output: its arguments are read as liquidjs reads them (a `default` first
    // in a chain lets its input be nil), its children in its block scope, its own variables last
    // (a capture's body still reads the variable it is about to set).
    for (const argument of t.arguments?.() ?? []) {
      if (argument instanceof Value) this.value(argument, false, known);
      else this.token(argument, false, known);
    }
    if (t.children) {
      const block = t.blockScope ? new Set(t.blockScope()) : undefined;
      if (block) this.blocks.push(block);
      this.templates(toValueSync(t.children(false, true)), known);
      if (block) this.blocks.pop();
    }
    for (const identifier of t.localScope?.() ?? []) this.locals.add(identifier.content);
  }

  // Each branch renders only when the conditions before it were false and its own is true.
  private ifTag(t: IfTag, known: Known): void {
    let earlierFalse: Known = NOTHING;
    for (const branch of t.branches) {
      this.value(branch.value, true, known);
      const condition = conditionOf(branch.value);
      this.templates(branch.templates, union(known, earlierFalse, whenTrue(condition)));
      earlierFalse = union(earlierFalse, whenFalse(condition));
    }
    if (t.elseTemplates) this.templates(t.elseTemplates, union(known, earlierFalse));
  }

  // unless renders its first branch when the condition is falsy; its elsifs when theirs are truthy.
  private unlessTag(t: UnlessTag, known: Known): void {
    let earlierFailed: Known = NOTHING;
    for (const branch of t.branches) {
      this.value(branch.value, true, known);
      const condition = conditionOf(branch.value);
      const rendersWhenFalsy = branch.test === isFalsy;
      this.templates(branch.templates, union(known, earlierFailed, rendersWhenFalsy ? whenFalse(condition) : whenTrue(condition)));
      earlierFailed = union(earlierFailed, rendersWhenFalsy ? whenTrue(condition) : whenFalse(condition));
    }
    this.templates(t.elseTemplates, union(known, earlierFailed));
  }

  // A `when` of constants only matches a subject that has a value.
  private caseTag(t: CaseTag, known: Known): void {
    this.value(t.value, true, known);
    for (const branch of t.branches) for (const v of branch.values) this.token(v, true, known);
    const subject = t.value.filters.length === 0 && t.value.initial.postfix.length === 1 ? pathOf(t.value.initial.postfix[0]!) : undefined;
    for (const branch of t.branches) {
      const matched = subject !== undefined && branch.values.every(isValueConstant) ? new Set([subject]) : NOTHING;
      this.templates(branch.templates, union(known, matched));
    }
    this.templates(t.elseTemplates, known);
  }

  /** A filtered value: its input may be nil when `lenient` (a condition) or a `default` comes first; filter arguments may not. */
  private value(v: { initial: { postfix: Token[] }; filters: { name: string; args: unknown[] }[] }, lenient: boolean, known: Known): void {
    const initialLenient = lenient || v.filters[0]?.name === 'default';
    for (const t of v.initial.postfix) if (!TypeGuards.isOperatorToken(t)) this.token(t, initialLenient, known);
    for (const filter of v.filters) {
      for (const arg of filter.args) this.token((Array.isArray(arg) ? arg[1] : arg) as Token | undefined, false, known);
    }
  }

  private token(t: Token | undefined, lenient: boolean, known: Known): void {
    if (!t) return;
    if (TypeGuards.isRangeToken(t)) {
      // liquidjs evaluates range bounds strictly, even in a condition.
      this.token(t.lhs, false, known);
      this.token(t.rhs, false, known);
    } else if (TypeGuards.isFilteredValueToken(t)) {
      this.value(t, lenient, known);
    } else if (TypeGuards.isPropertyAccessToken(t)) {
      if (t.variable) this.token(t.variable, lenient, known);
      // A lookup inside brackets (`a[key]`) is read strictly.
      for (const prop of t.props) if (!TypeGuards.isWordToken(prop)) this.token(prop, false, known);
      const path = pathOf(t);
      if (path !== undefined && !this.isLocal(path)) this.read(path, t, lenient || known.has(path));
    }
  }

  private isLocal(path: string): boolean {
    const root = path.split('.', 1)[0]!;
    return this.locals.has(root) || this.blocks.some((b) => b.has(root));
  }

  private read(path: string, token: Token, safe: boolean): void {
    this.use.all.add(path);
    if (safe) return;
    this.use.required.add(path);
    if (!this.use.firstRequired.has(path)) this.use.firstRequired.set(path, token);
  }
}

/** The column path a variable reads, or undefined when it reads no template data by a fixed name. */
export function pathOf(t: Token): string | undefined {
  if (!TypeGuards.isPropertyAccessToken(t) || t.variable) return undefined;
  const segments: string[] = [];
  for (const [i, prop] of t.props.entries()) {
    const name = TypeGuards.isWordToken(prop) || TypeGuards.isQuotedToken(prop) ? String(prop.content) : undefined;
    if (name === undefined || (i > 0 && name === 'size')) break;
    segments.push(name);
  }
  return segments.length > 0 ? segments.join('.') : undefined;
}

function conditionOf(v: Value): Condition | undefined {
  if (v.filters.length > 0) return undefined;
  const stack: Condition[] = [];
  for (const t of v.initial.postfix) {
    if (!TypeGuards.isOperatorToken(t)) {
      stack.push({ kind: 'operand', token: t });
    } else if (t.operator === 'not') {
      const operand = stack.pop();
      if (!operand) return undefined;
      stack.push({ kind: 'not', operand });
    } else {
      const right = stack.pop();
      const left = stack.pop();
      if (!left || !right) return undefined;
      stack.push({ kind: 'binary', operator: t.operator, left, right });
    }
  }
  return stack.length === 1 ? stack[0] : undefined;
}

const operandPath = (c: Condition): string | undefined => (c.kind === 'operand' ? pathOf(c.token) : undefined);
const isConstant = (c: Condition): boolean => c.kind === 'operand' && isValueConstant(c.token);
const isNilOrBlank = (c: Condition): boolean =>
  c.kind === 'operand' && TypeGuards.isLiteralToken(c.token) && ['nil', 'null', 'blank'].includes(c.token.literal);

/** A literal that is never nil: a string, a number, true. */
function isValueConstant(t: Token): boolean {
  return TypeGuards.isQuotedToken(t) || TypeGuards.isNumberToken(t) || (TypeGuards.isLiteralToken(t) && t.literal === 'true');
}

/** The path compared (with `==` or `!=`) to an operand `other` accepts, either way round. */
function comparedPath(c: Extract<Condition, { kind: 'binary' }>, other: (c: Condition) => boolean): Known {
  const left = operandPath(c.left);
  if (left !== undefined && other(c.right)) return new Set([left]);
  const right = operandPath(c.right);
  if (right !== undefined && other(c.left)) return new Set([right]);
  return NOTHING;
}

/** Paths that have a value whenever `c` is true. */
function whenTrue(c: Condition | undefined): Known {
  if (!c) return NOTHING;
  if (c.kind === 'operand') {
    const path = pathOf(c.token);
    return path === undefined ? NOTHING : new Set([path]);
  }
  if (c.kind === 'not') return whenFalse(c.operand);
  switch (c.operator) {
    case 'and':
      return union(whenTrue(c.left), whenTrue(c.right));
    case 'or':
      return intersection(whenTrue(c.left), whenTrue(c.right));
    case '==':
      return comparedPath(c, isConstant);
    case '!=':
      return comparedPath(c, isNilOrBlank);
    case 'contains': {
      // nil contains nothing.
      const path = operandPath(c.left);
      return path === undefined ? NOTHING : new Set([path]);
    }
    default:
      return NOTHING;
  }
}

/** Paths that have a value whenever `c` is false. */
function whenFalse(c: Condition | undefined): Known {
  if (!c || c.kind === 'operand') return NOTHING;
  if (c.kind === 'not') return whenTrue(c.operand);
  switch (c.operator) {
    case 'and':
      return intersection(whenFalse(c.left), whenFalse(c.right));
    case 'or':
      return union(whenFalse(c.left), whenFalse(c.right));
    case '==':
      return comparedPath(c, isNilOrBlank);
    case '!=':
      return comparedPath(c, isConstant);
    default:
      return NOTHING;
  }
}

// ---- render data ----

/**
 * The render data for a recipient row (plus what the engine adds): a blank cell is no value at all
 * (nil), as if the column were absent, so `default` and conditions treat it as missing; and a
 * column named `user.name` is also `user` → `name`, so `{{ user.name }}` reads it. A column that
 * holds text where a dotted name needs an object (`user` beside `user.name`) wins; the header check
 * refuses templates that would read through it (recipient-csv.ts). Values that are not strings
 * (tests, previews) are kept as they are.
 */
export function renderData(data: Record<string, unknown>): Record<string, unknown> {
  const scope: Record<string, unknown> = {};
  const made = new WeakSet<object>();
  const dotted: string[][] = [];
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === 'string' && value.trim() === '') continue;
    define(scope, key, value);
    const segments = key.split('.');
    if (segments.length > 1 && segments.every((s) => s !== '')) dotted.push(segments);
  }
  // Shorter names first: of `a.b` and `a.b.c`, `a.b` holds the text.
  dotted.sort((a, b) => a.length - b.length);
  for (const segments of dotted) {
    let node = scope;
    let blocked = false;
    for (const segment of segments.slice(0, -1)) {
      const next = Object.hasOwn(node, segment) ? node[segment] : undefined;
      if (next === undefined) {
        const child: Record<string, unknown> = {};
        made.add(child);
        define(node, segment, child);
        node = child;
      } else if (typeof next === 'object' && next !== null && made.has(next)) {
        node = next as Record<string, unknown>;
      } else {
        blocked = true;
        break;
      }
    }
    const last = segments.at(-1)!;
    if (!blocked && !Object.hasOwn(node, last)) define(node, last, scope[segments.join('.')]);
  }
  return scope;
}

// A column may be named "__proto__": defined, not assigned, it stays plain data.
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
