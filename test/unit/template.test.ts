// Unit tests for Liquid template parsing, placeholder discovery and sandboxed rendering.
import { describe, expect, it } from 'vitest';
import {
  MAX_CONCURRENT_RENDERS,
  MAX_RENDERED_PART_BYTES,
  MAX_SUBJECT_LENGTH,
  PARSE_LIMIT,
  TemplateRenderError,
  compileTemplate,
  parseTemplate,
  unusableTemplate,
  type TemplateParts,
} from '../../src/domain/template';

async function renderError(parts: TemplateParts, data: Record<string, unknown> = {}): Promise<TemplateRenderError> {
  try {
    await compileTemplate(parts).render(data);
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateRenderError);
    return error as TemplateRenderError;
  }
  throw new Error('expected a TemplateRenderError');
}

describe('parseTemplate', () => {
  it('lists the top-level variables the data must supply, sorted and unique', () => {
    const result = parseTemplate({
      html: '<p>{{ user.name }} {{ user.address.city }}</p>{% for item in items %}{{ item.title }} {{ forloop.index }}{% endfor %}',
      subject: 'Hi {{ first_name }}, about {{ items | size }}',
      text: '{% assign greeting = salutation | default: "Hello" %}{{ greeting }}{% capture c %}{{ coupon }}{% endcapture %}{{ c }} {{ unsubscribe_url }}',
    });
    expect(result).toEqual({
      ok: true,
      placeholders: ['coupon', 'first_name', 'items', 'salutation', 'unsubscribe_url', 'user'],
      // Issue 15: the column paths, and `salutation`, read only under `default`, is optional.
      required: ['coupon', 'first_name', 'items', 'unsubscribe_url', 'user.address.city', 'user.name'],
      optional: ['salutation'],
    });
  });

  it('reports no placeholders for static text', () => {
    expect(parseTemplate({ html: '<p>Hi</p>', subject: 'Hello' })).toEqual({ ok: true, placeholders: [], required: [], optional: [] });
  });

  it('reports an unclosed output with part, line and column', () => {
    expect(parseTemplate({ html: '<p>ok</p>', subject: 'Hi', text: 'line one\n  {{ unclosed' })).toEqual({
      ok: false,
      part: 'text',
      line: 2,
      column: 3,
      message: 'output "{{ unclosed" not closed',
    });
  });

  it('reports an if without endif at the opening tag', () => {
    expect(parseTemplate({ html: '<p>\n<b>{% if vip %}\nVIP', subject: 'Hi' })).toEqual({
      ok: false,
      part: 'html',
      line: 2,
      column: 4,
      message: 'tag {% if vip %} not closed',
    });
  });

  it('reports an if with no condition where the condition is missing', () => {
    const result = parseTemplate({ html: 'ok', subject: 'Hi\n {% if %}' });
    expect(result).toMatchObject({ ok: false, part: 'subject', line: 2, column: 7 });
    if (result.ok) throw new Error('expected failure');
    expect(result.message).toMatch(/invalid value expression/);
  });

  it('rejects unknown filters and tags at parse time', () => {
    expect(parseTemplate({ html: '{{ name | shout }}', subject: 'x' })).toMatchObject({
      ok: false,
      part: 'html',
      line: 1,
      column: 1,
      message: 'undefined filter: shout',
    });
    expect(parseTemplate({ html: 'x', subject: '{% frobnicate %}' })).toMatchObject({ ok: false, part: 'subject' });
  });

  it.each(['{% include "package.json" %}', "{% render 'package.json' %}", '{% layout "package.json" %}', '{% liquid\ninclude "x" %}'])(
    'rejects partials: %s',
    (html) => {
      const result = parseTemplate({ html, subject: 'x' });
      expect(result).toMatchObject({ ok: false, part: 'html' });
      if (result.ok) throw new Error('expected failure');
      expect(result.message).toMatch(/not supported/);
    },
  );

  it('rejects parts longer than the parse limit', () => {
    expect(parseTemplate({ html: 'x'.repeat(PARSE_LIMIT + 1), subject: 'x' })).toMatchObject({
      ok: false,
      part: 'html',
      line: 1,
      column: 1,
    });
  });
});

describe('compileTemplate', () => {
  it('throws on a syntax error, as TEMPLATE_INVALID', () => {
    expect(() => compileTemplate({ html: '{{ oops', subject: 'x' })).toThrow(/html.*line 1, column 1/);
    try {
      compileTemplate({ html: '{{ oops', subject: 'x' });
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateRenderError);
      expect((error as TemplateRenderError).code).toBe('TEMPLATE_INVALID');
    }
  });

  it('personalises subject, HTML and text', async () => {
    const template = compileTemplate({
      subject: 'Hi {{ first_name }}',
      html: '<p>Dear {{ first_name }} from {{ user.city }}</p>{% for t in tags %}<i>{{ t }}</i>{% endfor %}',
      text: 'Dear {{ first_name }}',
    });
    expect(await template.render({ first_name: 'Ana', user: { city: 'Lisbon' }, tags: ['a', 'b'] })).toEqual({
      subject: 'Hi Ana',
      html: '<p>Dear Ana from Lisbon</p><i>a</i><i>b</i>',
      text: 'Dear Ana',
    });
    // Compiled once, rendered many times.
    expect((await template.render({ first_name: 'Bo', user: { city: 'Oslo' }, tags: [] })).subject).toBe('Hi Bo');
  });

  it('omits text when there is no text part', async () => {
    const rendered = await compileTemplate({ subject: 's', html: 'h' }).render({});
    expect(rendered).toEqual({ subject: 's', html: 'h' });
    expect('text' in rendered).toBe(false);
  });

  it('escapes values in HTML only', async () => {
    const rendered = await compileTemplate({
      subject: '{{ name }}',
      html: '<p>{{ name }}</p>',
      text: '{{ name }}',
    }).render({ name: '<b>Tom & "Jerry"</b>' });
    expect(rendered.html).toBe('<p>&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;</p>');
    expect(rendered.subject).toBe('<b>Tom & "Jerry"</b>');
    expect(rendered.text).toBe('<b>Tom & "Jerry"</b>');
  });

  it('flattens the subject to one line so data cannot inject headers', async () => {
    const rendered = await compileTemplate({ subject: 'Hi {{ name }}', html: 'x', text: '{{ name }}' }).render({
      name: 'x\r\nBcc: evil@example.com',
    });
    expect(rendered.subject).toBe('Hi x Bcc: evil@example.com');
    expect(rendered.subject).not.toMatch(/[\r\n]/);
    expect(rendered.text).toBe('x\r\nBcc: evil@example.com');
  });

  it('replaces other control characters in the subject and trims it', async () => {
    const rendered = await compileTemplate({ subject: '{{ s }}', html: 'x' }).render({
      s: '\n\tA\u0000B\u001fC\u007fD\u2028E  \r\n',
    });
    expect(rendered.subject).toBe('A B C D E');
  });

  it('cuts the subject to the maximum length without splitting a character', async () => {
    const template = compileTemplate({ subject: '{{ s }}', html: 'x' });
    expect((await template.render({ s: 'a'.repeat(2000) })).subject).toBe('a'.repeat(MAX_SUBJECT_LENGTH));
    const emoji = (await template.render({ s: `${'a'.repeat(MAX_SUBJECT_LENGTH - 1)}😀` })).subject;
    expect(emoji).toBe('a'.repeat(MAX_SUBJECT_LENGTH - 1));
  });

  it('fails on an undefined variable', async () => {
    const error = await renderError({ subject: 'Hi {{ first_name }}', html: 'x' }, { name: 'Ana' });
    expect(error.code).toBe('UNDEFINED_VARIABLE');
    expect(error.message).toContain('first_name');
  });

  it('fails on an undefined property and hides prototype properties', async () => {
    expect((await renderError({ subject: 's', html: '{{ user.age }}' }, { user: { name: 'A' } })).code).toBe('UNDEFINED_VARIABLE');
    expect((await renderError({ subject: 's', html: '{{ user.constructor }}' }, { user: {} })).code).toBe('UNDEFINED_VARIABLE');
  });

  it('stops an enormous nested loop quickly', async () => {
    const started = Date.now();
    const error = await renderError({
      subject: 's',
      html: '{% for i in (1..100000000) %}{% for j in (1..100000000) %}x{% endfor %}{% endfor %}',
    });
    expect(['RENDER_LIMIT', 'MEMORY_LIMIT']).toContain(error.code);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops a long-running loop at the render time limit', async () => {
    const started = Date.now();
    // No output (output would hit the size cap first): only time stops it.
    const error = await renderError({
      subject: 's',
      html: '{% for i in (1..5000) %}{% for j in (1..5000) %}{% assign k = j %}{% endfor %}{% endfor %}',
    });
    expect(error.code).toBe('RENDER_LIMIT');
    expect(Date.now() - started).toBeLessThan(5_000);
  }, 10_000);

  it('stops a huge string allocation', async () => {
    const started = Date.now();
    const error = await renderError({
      subject: 's',
      html: '{% assign s = "xxxxxxxxxx" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}',
    });
    expect(['MEMORY_LIMIT', 'RENDER_LIMIT']).toContain(error.code);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not read files through include or render', async () => {
    for (const html of [`{% include '${__filename}' %}`, "{% include 'package.json' %}", "{% render 'package.json' %}"]) {
      expect(() => compileTemplate({ subject: 's', html })).toThrow(/not supported/);
    }
  });
});

// Issue 13 item 4: liquidjs's memoryLimit does not count literal output, so a small loop around a
// large literal rendered hundreds of MB per recipient. Each part now renders into an emitter that
// counts UTF-8 bytes and stops the render at the write that would pass MAX_RENDERED_PART_BYTES.
describe('the output cap per part', () => {
  const literal = 'x'.repeat(100_000);
  /** The template, with the loop bound from recipient data so that confirm cannot see it. */
  const bomb = `<p>{{ first_name }}</p>{% for a in (1..times) %}${literal}{% endfor %}`;

  it("stops the issue's 200 MB template while it renders, in milliseconds", async () => {
    const started = performance.now();
    const heapBefore = process.memoryUsage().heapUsed;
    const error = await renderError({ subject: 's', html: bomb }, { first_name: 'Ada', times: '2000' });
    expect(error.code).toBe('RENDER_TOO_LARGE');
    expect(error.message).toBe(`The html renders to more than ${MAX_RENDERED_PART_BYTES} bytes, the limit per part (line 1, column 49).`);
    expect(performance.now() - started).toBeLessThan(1_000);
    // Rendered whole it would have held 200 MB; stopped at the cap it never held much more than 1 MiB.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(50 * 1024 * 1024);
  });

  it('stops a gigabyte of output long before the time limit would', async () => {
    const started = performance.now();
    const error = await renderError({ subject: 's', html: `{% for a in (1..n) %}${'y'.repeat(1000)}{% endfor %}` }, { n: 1_000_000 });
    expect(error.code).toBe('RENDER_TOO_LARGE');
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('renders the same template for a recipient whose data keeps it under the cap', async () => {
    const rendered = await compileTemplate({ subject: 's', html: bomb }).render({ first_name: 'Ada', times: '10' });
    expect(rendered.html).toHaveLength('<p>Ada</p>'.length + 10 * literal.length);
  });

  it('counts UTF-8 bytes: exactly the cap renders, one byte more fails', async () => {
    const template = compileTemplate({ subject: 's', html: '{{ s }}', text: '{{ s }}' });
    const atCap = 'a'.repeat(MAX_RENDERED_PART_BYTES);
    expect((await template.render({ s: atCap })).html).toHaveLength(MAX_RENDERED_PART_BYTES);
    expect((await renderError({ subject: 's', html: '{{ s }}' }, { s: `${atCap}a` })).code).toBe('RENDER_TOO_LARGE');
    // Two bytes per "é": half the cap in characters fills it.
    const accents = 'é'.repeat(MAX_RENDERED_PART_BYTES / 2);
    expect((await template.render({ s: accents })).html).toHaveLength(MAX_RENDERED_PART_BYTES / 2);
    expect((await renderError({ subject: 's', html: '{{ s }}x' }, { s: accents })).code).toBe('RENDER_TOO_LARGE');
  });

  it('caps each part: subject and text too', async () => {
    const big = { n: 20, s: 'z'.repeat(100_000) };
    const loop = '{% for i in (1..n) %}{{ s }}{% endfor %}';
    const subject = await renderError({ subject: loop, html: 'x' }, big);
    expect(subject.code).toBe('RENDER_TOO_LARGE');
    expect(subject.message).toMatch(/^The subject renders to more than/);
    const text = await renderError({ subject: 's', html: 'x', text: loop }, big);
    expect(text.code).toBe('RENDER_TOO_LARGE');
    expect(text.message).toMatch(/^The text renders to more than/);
    // Each part has its own budget: html and text of 0.6 MiB each are fine together.
    const parts = await compileTemplate({ subject: 's', html: '{{ s }}', text: '{{ s }}' }).render({ s: 'q'.repeat(600 * 1024) });
    expect(parts.html.length + parts.text!.length).toBe(1200 * 1024);
  });

  it('counts what capture collects, even when it is never output', async () => {
    const error = await renderError(
      { subject: 's', html: `{% capture c %}{% for a in (1..times) %}${literal}{% endfor %}{% endcapture %}{{ c | size }}` },
      { times: '2000' },
    );
    expect(error.code).toBe('RENDER_TOO_LARGE');
    // A small capture still works, and counts once captured and once output.
    const small = await compileTemplate({ subject: 's', html: 'x', text: '{% capture c %}<b>{{ n }}</b>{% endcapture %}[{{ c }}]' }).render(
      {
        n: 1,
      },
    );
    expect(small.text).toBe('[<b>1</b>]');
  });

  it('keeps at most MAX_CONCURRENT_RENDERS renders running, and a failed render frees its slot', async () => {
    const bombs = Array.from({ length: 20 }, () => renderError({ subject: 's', html: bomb }, { first_name: 'A', times: '2000' }));
    expect((await Promise.all(bombs)).every((e) => e.code === 'RENDER_TOO_LARGE')).toBe(true);
    const template = compileTemplate({ subject: 'Hi {{ n }}', html: '<p>{{ n }}</p>' });
    const many = await Promise.all(Array.from({ length: 50 }, (_, n) => template.render({ n })));
    expect(many.map((r) => r.subject)).toEqual(Array.from({ length: 50 }, (_, n) => `Hi ${n}`));
    expect(MAX_CONCURRENT_RENDERS).toBeGreaterThanOrEqual(1);
  });

  it('an unusable template fails every render with its error', async () => {
    const error = new TemplateRenderError('TEMPLATE_INVALID', 'gone');
    await expect(unusableTemplate(error).render({})).rejects.toBe(error);
  });
});

describe('parseTemplate refuses what no recipient could render', () => {
  const literal = 'x'.repeat(100_000);

  it("refuses the issue's template (a literal loop around 100 KB) with code, part, line and column", () => {
    expect(parseTemplate({ html: `<p>Hi</p>\n  {% for a in (1..2000) %}${literal}{% endfor %}`, subject: 's' })).toEqual({
      ok: false,
      code: 'RENDER_TOO_LARGE',
      part: 'html',
      line: 2,
      column: 3,
      message: `renders at least 200000012 bytes for every recipient (the loop at line 2, column 3); a part may render at most ${MAX_RENDERED_PART_BYTES} bytes`,
    });
  });

  it('multiplies nested literal loops and counts captures', () => {
    const nested = '{% for a in (1..100) %}{% for b in (1..100) %}' + 'y'.repeat(200) + '{% endfor %}{% endfor %}';
    expect(parseTemplate({ html: nested, subject: 's' })).toMatchObject({ ok: false, code: 'RENDER_TOO_LARGE' });
    const captured = `{% capture c %}{% for a in (1..20) %}${literal}{% endfor %}{% endcapture %}`;
    expect(parseTemplate({ html: 'x', subject: 's', text: captured })).toMatchObject({ ok: false, code: 'RENDER_TOO_LARGE', part: 'text' });
    // Both branches of an if/else are too large: whichever renders is.
    const both = `{% if vip %}{% for a in (1..20) %}${literal}{% endfor %}{% else %}{% for a in (1..30) %}${literal}{% endfor %}{% endif %}`;
    expect(parseTemplate({ html: both, subject: 's' })).toMatchObject({ ok: false, code: 'RENDER_TOO_LARGE' });
  });

  it('accepts what depends on data or stays under the cap', () => {
    for (const html of [
      `{% for a in (1..times) %}${literal}{% endfor %}`, // the bound is data
      `{% for a in items %}${literal}{% endfor %}`, // so is the collection
      `{% for a in (1..2000) limit: 5 %}${literal}{% endfor %}`, // 500 KB
      `{% for a in (1..2000) offset: 1995 %}${literal}{% endfor %}`, // 500 KB
      `{% for a in (1..2000) %}{% if a > 3 %}{% break %}{% endif %}${literal}{% endfor %}`, // a break may end it
      `{% if vip %}{% for a in (1..2000) %}${literal}{% endfor %}{% endif %}`, // maybe never rendered
      `{% for a in (1..10) %}${literal}{% endfor %}`, // 1 MB, under 1 MiB
    ]) {
      expect(parseTemplate({ html, subject: 's' }), html.slice(0, 60)).toMatchObject({ ok: true });
    }
  });
});
