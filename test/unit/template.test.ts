// Unit tests for Liquid template parsing, placeholder discovery and sandboxed rendering.
import { describe, expect, it } from 'vitest';
import {
  MAX_SUBJECT_LENGTH,
  PARSE_LIMIT,
  TemplateRenderError,
  compileTemplate,
  parseTemplate,
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
    });
  });

  it('reports no placeholders for static text', () => {
    expect(parseTemplate({ html: '<p>Hi</p>', subject: 'Hello' })).toEqual({ ok: true, placeholders: [] });
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
  it('throws on a syntax error', () => {
    expect(() => compileTemplate({ html: '{{ oops', subject: 'x' })).toThrow(/html.*line 1, column 1/);
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
    const error = await renderError({
      subject: 's',
      html: '{% for i in (1..5000) %}{% for j in (1..5000) %}x{% endfor %}{% endfor %}',
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
