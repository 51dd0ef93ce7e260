// Issue 15 item 4: Liquid that behaves as template authors expect, each case rendered side by side
// with plain liquidjs (its defaults: no strict variables, no escaping), which follows Shopify's
// semantics: optional placeholders (under `default` or a condition) may be missing; the HTML part
// escapes once; dates render in UTC or the render's zone whatever the host's; dotted variables
// read dotted columns and are checked against the CSV header, never at send.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Liquid } from 'liquidjs';
import { describe, expect, it } from 'vitest';
import { CsvHeaderError, columnRulesOf, createRowValidator, type ColumnRules } from '../../src/domain/recipient-csv';
import {
  MAX_RENDERED_PART_BYTES,
  TemplateRenderError,
  compileTemplate,
  isTimeZone,
  parseTemplate,
  type RenderOptions,
  type TemplateParts,
} from '../../src/domain/template';
import { renderData } from '../../src/domain/template-placeholders';

const liquidjs = new Liquid();

/** The template's required and optional column paths, as confirm finds them. */
function rulesOf(parts: TemplateParts): ColumnRules {
  const parsed = parseTemplate(parts);
  if (!parsed.ok) throw new Error(`does not parse: ${parsed.message}`);
  return { required: parsed.required, optional: parsed.optional };
}

/** What a send does with a CSV: validate the row against the template's rules, render what it stored. */
async function sendRow(parts: TemplateParts, header: string[], row: string[], options?: RenderOptions) {
  const result = createRowValidator(header, rulesOf(parts)).validate(row);
  if (result.kind !== 'valid') throw new Error(`row rejected: ${result.code} ${result.message}`);
  return compileTemplate(parts).render({ ...result.data, email: result.email }, options);
}

async function renderError(parts: TemplateParts, data: Record<string, unknown>, options?: RenderOptions): Promise<TemplateRenderError> {
  try {
    await compileTemplate(parts).render(data, options);
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateRenderError);
    return error as TemplateRenderError;
  }
  throw new Error('expected a TemplateRenderError');
}

describe('required and optional placeholders', () => {
  it.each([
    ['Hi {{ nickname | default: "there" }}', [], ['nickname']],
    ['{% if nickname %}Hi {{ nickname }}{% else %}Hello{% endif %}', [], ['nickname']],
    ['{% unless nickname %}Hello{% else %}Hi {{ nickname }}{% endunless %}', [], ['nickname']],
    ['{% unless note == blank %}{{ note }}{% endunless %}', [], ['note']],
    ['{% if note != blank and vip %}{{ note }} {{ vip }}{% endif %}', [], ['note', 'vip']],
    ['{% if note == nil %}none{% else %}{{ note }}{% endif %}', [], ['note']],
    ['{% if a %}a{% elsif b %}{{ b }}{% endif %}', [], ['a', 'b']],
    ['{% if not a %}-{% else %}{{ a }}{% endif %}', [], ['a']],
    ['{% if tags contains "x" %}{{ tags }}{% endif %}', [], ['tags']],
    ['{% case tier %}{% when "gold", "silver" %}{{ tier }} member{% else %}guest{% endcase %}', [], ['tier']],
    ['{% if user.nickname %}{{ user.nickname }}{% endif %}', [], ['user.nickname']],
    ['{% assign who = nickname | default: first_name %}{{ who }}', ['first_name'], ['nickname']],
    // Read without a guard anywhere: required.
    ['{% if nickname %}Hi{% endif %} {{ nickname }}', ['nickname'], []],
    ['{% if a or b %}{{ a }}{% endif %}', ['a'], ['b']],
    ['{% if a == "" %}{% else %}{{ a }}{% endif %}', ['a'], []],
    ['{{ name | upcase | default: "x" }}', ['name'], []],
    ['{{ "Hi " | append: name }}', ['name'], []],
    ['{{ name | default: fallback }}', ['fallback'], ['name']],
    ['{% for i in items %}{{ i }}{% endfor %}', ['items'], []],
    ['{% for i in (1..n) %}x{% endfor %}', ['n'], []],
    ['{% if list[key] %}x{% endif %}', ['key'], ['list']],
    ['{% assign x = nickname %}{{ x }}', ['nickname'], []],
    ['{% case tier %}{% when other %}{{ tier }}{% endcase %}', ['tier'], ['other']],
    ['{% capture c %}{{ c }}{% endcapture %}', ['c'], []],
  ])('%s → required %j, optional %j', (html, required, optional) => {
    expect(rulesOf({ html, subject: 's' })).toEqual({ required, optional });
  });

  it('is required when any part reads it unguarded, and keeps placeholders as the top-level names', () => {
    const result = parseTemplate({
      subject: 'Hi {{ nickname | default: "there" }}',
      html: '<p>{{ nickname }}</p>',
      text: '{{ user.name }}',
    });
    expect(result).toEqual({ ok: true, placeholders: ['nickname', 'user'], required: ['nickname', 'user.name'], optional: [] });
  });

  const greeting = {
    subject: 'Hi {{ nickname | default: "there" }}',
    html: '<p>{% if company %}From {{ company }}{% else %}Hello{% endif %}</p>',
    text: '{% case tier %}{% when "gold" %}Gold {{ tier }}{% else %}Welcome{% endcase %}, {{ first_name }}{% unless note == blank %} ({{ note }}){% endunless %}',
  };

  it('accepts rows that lack optional values, blank or with no column, and renders them as liquidjs renders a missing variable', async () => {
    expect(rulesOf(greeting)).toEqual({ required: ['first_name'], optional: ['company', 'nickname', 'note', 'tier'] });
    // No column at all for nickname, company or note; a blank tier.
    const absent = await sendRow(greeting, ['email', 'first_name', 'tier'], ['a@example.com', 'Ada', ' ']);
    const plain = { first_name: 'Ada' };
    expect(absent).toEqual({
      subject: (await liquidjs.parseAndRender(greeting.subject, plain)).trim(),
      html: await liquidjs.parseAndRender(greeting.html, plain),
      text: await liquidjs.parseAndRender(greeting.text!, plain),
    });
    expect(absent).toEqual({ subject: 'Hi there', html: '<p>Hello</p>', text: 'Welcome, Ada' });

    const present = await sendRow(
      greeting,
      ['email', 'first_name', 'nickname', 'company', 'tier', 'note'],
      ['b@example.com', 'Bo', 'Bobby', 'Acme', 'gold', 'VIP'],
    );
    expect(present).toEqual({ subject: 'Hi Bobby', html: '<p>From Acme</p>', text: 'Gold gold, Bo (VIP)' });
  });

  it('still rejects a row whose required value is blank, and renders a blank optional cell as nil', async () => {
    const v = createRowValidator(['email', 'first_name', 'nickname'], rulesOf(greeting));
    expect(v.validate(['a@example.com', ' ', 'Al'])).toMatchObject({ kind: 'rejected', code: 'MISSING_PLACEHOLDER' });
    // liquidjs treats "" as truthy; a blank CSV cell is no value at all, so the branch is the falsy one.
    const html = '{% if nickname %}[{{ nickname }}]{% else %}none{% endif %}';
    expect(await compileTemplate({ subject: 's', html }).render({ nickname: '' })).toMatchObject({ html: 'none' });
    expect(await compileTemplate({ subject: 's', html }).render({ nickname: 'N' })).toMatchObject({ html: '[N]' });
  });

  it('fails a required variable that is missing, as before', async () => {
    expect((await renderError({ subject: 's', html: '{% if nickname %}Hi{% endif %}{{ nickname }}' }, {})).code).toBe('UNDEFINED_VARIABLE');
  });

  it('keeps templates confirmed before the lists: every placeholder required by its root', () => {
    expect(columnRulesOf({ placeholders: ['nickname', 'user'] })).toEqual(['nickname', 'user']);
    expect(columnRulesOf({ placeholders: ['nickname'], required_placeholders: [], optional_placeholders: ['nickname'] })).toEqual({
      required: [],
      optional: ['nickname'],
    });
    const legacy = createRowValidator(['email', 'nickname'], columnRulesOf({ placeholders: ['nickname'] }));
    expect(legacy.validate(['a@example.com', ''])).toMatchObject({ kind: 'rejected', code: 'MISSING_PLACEHOLDER' });
    const current = createRowValidator(
      ['email'],
      columnRulesOf({ placeholders: ['nickname'], required_placeholders: [], optional_placeholders: ['nickname'] }),
    );
    expect(current.validate(['a@example.com'])).toMatchObject({ kind: 'valid' });
  });
});

describe('escaping in the HTML part happens once', () => {
  const company = 'AT&T <Labs>';

  it('{{ company | escape }} is escaped once, as liquidjs escapes it', async () => {
    const html = '<p>{{ company | escape }}</p>';
    const rendered = await compileTemplate({ subject: 's', html }).render({ company });
    expect(rendered.html).toBe(await liquidjs.parseAndRender(html, { company }));
    expect(rendered.html).toBe('<p>AT&amp;T &lt;Labs&gt;</p>');
    // And a value without a filter is escaped exactly the same.
    expect((await compileTemplate({ subject: 's', html: '<p>{{ company }}</p>' }).render({ company })).html).toBe(rendered.html);
  });

  it('escape_once and xml_escape too', async () => {
    const data = { v: '&lt;b&gt; & <i>' };
    for (const html of ['{{ v | escape_once }}', '{{ v | xml_escape }}']) {
      expect((await compileTemplate({ subject: 's', html }).render(data)).html).toBe(await liquidjs.parseAndRender(html, data));
    }
  });

  it('newline_to_br keeps its <br /> as markup and escapes the text it breaks', async () => {
    const note = 'Line one\n<b>two</b>\r\nthree';
    const rendered = await compileTemplate({ subject: 's', html: '{{ note | newline_to_br }}' }).render({ note });
    expect(rendered.html).toBe('Line one<br />\n&lt;b&gt;two&lt;/b&gt;<br />\nthree');
    expect(rendered.html).toBe(await liquidjs.parseAndRender('{{ note | escape | newline_to_br }}', { note }));
    // Escaped first by the author: still once.
    expect((await compileTemplate({ subject: 's', html: '{{ note | escape | newline_to_br }}' }).render({ note })).html).toBe(
      rendered.html,
    );
  });

  it('a capture is markup: output once, compared and measured as its text', async () => {
    const html =
      '{% capture card %}<b>{{ name }}</b>{% endcapture %}{{ card }}|{{ card | default: "x" }}|{{ card.size }}|{{ card | size }}|' +
      '{% capture space %}  {% endcapture %}{% if space == blank %}blank{% endif %}{% if card contains "<b>" %}bold{% endif %}';
    const rendered = await compileTemplate({ subject: 's', html }).render({ name: 'Tom & Jerry' });
    expect(rendered.html).toBe('<b>Tom &amp; Jerry</b>|<b>Tom &amp; Jerry</b>|22|22|blankbold');
    expect(rendered.html).toBe(await liquidjs.parseAndRender(html.replace('{{ name }}', '{{ name | escape }}'), { name: 'Tom & Jerry' }));
  });

  it('subject and text are not HTML: only what the author escapes is escaped', async () => {
    const rendered = await compileTemplate({
      subject: '{{ company }} / {{ company | escape }}',
      html: 'x',
      text: '{{ company }}\n{{ note | newline_to_br }}',
    }).render({
      company,
      note: 'a\nb',
    });
    expect(rendered.subject).toBe('AT&T <Labs> / AT&amp;T &lt;Labs&gt;');
    expect(rendered.text).toBe('AT&T <Labs>\na<br />\nb');
  });

  it("never lets a recipient's value add markup, whatever the filters", async () => {
    const evil = '</p><script>alert(1)</script>';
    for (const html of [
      '{{ v }}',
      '{{ v | raw }}',
      '{{ v | escape_once }}',
      '{{ v | newline_to_br }}',
      '{{ v | default: "x" }}',
      '{{ v | strip_html | raw }}',
      '{% capture c %}{{ v | raw }}{% endcapture %}{{ c | raw }}',
      '{% assign a = v | raw %}{{ a }}',
      '{% echo v | raw %}',
      '{% cycle v, "x" %}',
      '{{ v | escape | upcase }}',
    ]) {
      const out = (await compileTemplate({ subject: 's', html }).render({ v: evil })).html;
      expect(out, html).not.toMatch(/<script|<\/p>/i);
    }
  });

  it('the output cap still applies to markup the filters produce', async () => {
    const loop = (filter: string) => `{% for i in (1..n) %}{{ s | ${filter} }}{% endfor %}`;
    const data = { n: '20', s: 'a\n'.repeat(30_000) };
    for (const filter of ['escape', 'newline_to_br', 'escape_once', 'raw']) {
      expect((await renderError({ subject: 's', html: loop(filter) }, data)).code, filter).toBe('RENDER_TOO_LARGE');
    }
    // One value past the cap once escaped ("&" is 5 bytes escaped) fails as well.
    expect((await renderError({ subject: 's', html: '{{ s | escape }}' }, { s: '&'.repeat(MAX_RENDERED_PART_BYTES / 4) })).code).toBe(
      'RENDER_TOO_LARGE',
    );
    const captured = `{% capture c %}{% for i in (1..n) %}{{ s | newline_to_br }}{% endfor %}{% endcapture %}`;
    expect((await renderError({ subject: 's', html: captured }, data)).code).toBe('RENDER_TOO_LARGE');
  });
});

const zoneScript = join(__dirname, '..', 'support', 'render-in-zone.ts');

/** Renders in a child process whose host time zone is `tz` (TZ is read when a process starts). */
function renderOnHost(tz: string, jobs: Array<{ parts: TemplateParts; data: Record<string, unknown>; options?: RenderOptions }>) {
  const child = spawnSync(process.execPath, ['--import', 'tsx', zoneScript, JSON.stringify(jobs)], {
    env: { ...process.env, TZ: tz },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (child.status !== 0) throw new Error(`render in ${tz} failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as { zone: string; results: Array<{ engine: { html: string }; liquidjs: string; liquidjsUtc: string }> };
}

describe('dates render in UTC or the render time zone, whatever the host', () => {
  const jobs = [
    { parts: { subject: 's', html: '{{ d | date: "%b %d, %Y" }}' }, data: { d: '2024-03-05' } },
    { parts: { subject: 's', html: '{{ d | date: "%Y-%m-%d %H:%M %z" }}' }, data: { d: '2024-03-05T18:30:00Z' } },
    { parts: { subject: 's', html: '{{ d | date: "%a %-d %B %Y %H:%M" }}' }, data: { d: '2024-03-05 10:30' } },
    {
      parts: { subject: 's', html: '{{ d | date: "%b %d, %Y %H:%M %Z" }}' },
      data: { d: '2024-03-05' },
      options: { timeZone: 'America/Los_Angeles' },
    },
    {
      parts: { subject: 's', html: '{{ d | date: "%Y-%m-%d %H:%M %Z" }}' },
      data: { d: '2024-03-05T18:30:00Z' },
      options: { timeZone: 'Asia/Tokyo' },
    },
    // 09:30 UTC on the day Los Angeles moves to summer time (10:00 UTC): liquidjs's host-zone
    // arithmetic is an hour off there on a Los Angeles host.
    { parts: { subject: 's', html: '{{ d | date: "%H:%M" }}' }, data: { d: '2024-03-10T09:30:00Z' } },
    { parts: { subject: 's', html: '{{ d | date_to_xmlschema }} {{ d | date_to_string }}' }, data: { d: '2024-03-05' } },
  ];
  const expected = [
    'Mar 05, 2024',
    '2024-03-05 18:30 +0000',
    'Tue 5 March 2024 10:30',
    'Mar 05, 2024 00:00 PST',
    '2024-03-06 03:30 GMT+9',
    '09:30',
    '2024-03-05T00:00:00+00:00 05 Mar 2024',
  ];

  it.each(['UTC', 'America/Los_Angeles', 'Asia/Tokyo'])(
    'on a host in %s',
    (tz) => {
      const { zone, results } = renderOnHost(tz, jobs);
      expect(zone).toBe(tz);
      expect(results.map((r) => r.engine.html)).toEqual(expected);
      // Plain liquidjs follows the host: west of UTC the date-only value is the day before; and its
      // timezoneOffset option is an hour off near the host's own DST change.
      if (tz === 'America/Los_Angeles') {
        expect(results[0]!.liquidjs).toBe('Mar 04, 2024');
        expect(results[5]!.liquidjsUtc).toBe('10:30');
      }
      if (tz === 'Asia/Tokyo') expect(results[1]!.liquidjs).toBe('2024-03-06 03:30 +0900');
    },
    60_000,
  );

  it('formats like liquidjs in UTC for every strftime directive but the locale ones', async () => {
    // Away from any DST change, where liquidjs's own arithmetic in UTC is right.
    const d = '2024-07-04T15:07:09.123Z';
    const format =
      '%a %A %b %B %C %d %e %H %I %j %k %l %L %m %M %N %3N %p %P %q %s %S %u %U %w %W %y %Y %z %:z %% %-d %_m %05Y %^B %#p %10d %h %t|%n';
    const reference = new Liquid({ timezoneOffset: 0, locale: 'en-US' });
    const html = `{{ d | date: "${format}" }}`;
    expect((await compileTemplate({ subject: 's', html }).render({ d })).html).toBe(await reference.parseAndRender(html, { d }));
    // Liquid's other date filters, in the same zone.
    for (const filter of [
      'date_to_xmlschema',
      'date_to_rfc822',
      'date_to_string',
      'date_to_long_string',
      'date_to_string: "ordinal", "US"',
    ]) {
      const f = `{{ d | ${filter} }}`;
      expect((await compileTemplate({ subject: 's', html: f }).render({ d })).html, filter).toBe(await reference.parseAndRender(f, { d }));
    }
  });

  it("takes the filter's own zone (a name, an offset, liquidjs's minutes) over the render's", async () => {
    const html =
      '{{ d | date: "%H:%M", "Asia/Tokyo" }} {{ d | date: "%H:%M", "+05:30" }} {{ d | date: "%H:%M", -60 }} {{ d | date: "%H:%M" }}';
    expect((await compileTemplate({ subject: 's', html }).render({ d: '2024-01-15T12:00:00Z' }, { timeZone: 'Europe/Paris' })).html).toBe(
      '21:00 17:30 13:00 13:00',
    );
  });

  it('leaves what is not a date as it is, and refuses an unknown zone', async () => {
    expect(
      (await compileTemplate({ subject: 's', html: '{{ d | date: "%Y" }}|{{ e | date: "%Y" }}' }).render({ d: 'soon', e: '2024-02-30' }))
        .html,
    ).toBe('soon|2024-02-30');
    expect((await renderError({ subject: 's', html: 'x' }, {}, { timeZone: 'Mars/Olympus' })).code).toBe('RENDER_FAILED');
    expect((await renderError({ subject: 's', html: '{{ "2024-01-01" | date: "%Y", "Mars/Olympus" }}' }, {})).message).toContain(
      'unknown time zone',
    );
    expect(isTimeZone('America/Los_Angeles')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });

  it('charges a huge width against the memory limit instead of allocating it', async () => {
    expect(['MEMORY_LIMIT', 'RENDER_TOO_LARGE']).toContain(
      (await renderError({ subject: 's', html: '{{ "2024-01-01" | date: "%999999999d" }}' }, {})).code,
    );
  });
});

describe('dotted variables read dotted columns, checked against the header', () => {
  const parts = { subject: 'Hi {{ user.name }}', html: '<p>{{ user.name }} from {{ user.address.city }}</p>' };

  it('needs the column named exactly like the variable, and renders it', async () => {
    expect(rulesOf(parts)).toEqual({ required: ['user.address.city', 'user.name'], optional: [] });
    const rendered = await sendRow(parts, ['email', 'user.name', 'user.address.city'], ['a@example.com', 'Ada', 'Lisbon']);
    expect(rendered).toEqual({ subject: 'Hi Ada', html: '<p>Ada from Lisbon</p>' });
  });

  it.each([
    [['email', 'user'], ['user.address.city', 'user.name'], 'the column "user" holds text'],
    [['email', 'user', 'user.name', 'user.address.city'], ['user.address.city', 'user.name'], 'the column "user" holds text'],
    [['email', 'user.name'], ['user.address.city'], 'no column of that name'],
  ])('refuses the header %j with MISSING_COLUMNS naming %j', (header, variables, reason) => {
    let error: unknown;
    try {
      createRowValidator(header, rulesOf(parts));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CsvHeaderError);
    expect(error).toMatchObject({ code: 'MISSING_COLUMNS', details: { variables } });
    expect((error as Error).message).toContain(reason);
  });

  it('checks optional dotted variables for a text column in their way, and engine-supplied names too', () => {
    const optional = rulesOf({ subject: 's', html: '{% if user.vip %}VIP{% endif %}' });
    expect(() => createRowValidator(['email'], optional)).not.toThrow();
    expect(() => createRowValidator(['email', 'user'], optional)).toThrow(/"user.vip" \(the column "user" holds text/);
    const domain = rulesOf({ subject: 's', html: '{{ email.domain }}' });
    expect(() => createRowValidator(['email', 'email.domain'], domain)).toThrow(/"email" is text the engine supplies/);
  });

  it('reads `size` as Liquid does, not as a column', () => {
    expect(rulesOf({ subject: 's', html: '{{ name.size }} {{ items[0] }} {{ items.size }}' })).toEqual({
      required: ['items', 'name'],
      optional: [],
    });
  });

  it('refuses at confirm a template that reads a placeholder both as a value and as fields', () => {
    expect(parseTemplate({ subject: 'Hi {{ user }}', html: '<p>\n  {{ user.name }}</p>' })).toEqual({
      ok: false,
      code: 'PLACEHOLDER_CONFLICT',
      part: 'subject',
      line: 1,
      column: 7,
      message:
        '"user" is read as a value here and "user.name" as a field of it, but a column of the recipient file holds text, which has no fields: rename one of them',
    });
    // A guarded read of the parent is not a conflict: a row with user.name has a user.
    expect(parseTemplate({ subject: 's', html: '{% if user %}{{ user.name }}{% endif %}' })).toMatchObject({
      ok: true,
      required: ['user.name'],
    });
  });

  it('builds the render data from a flat row: blank cells are nil, dotted names nest, text wins over fields', () => {
    expect(
      renderData({
        'user.name': 'Ada',
        'user.address.city': 'Lisbon',
        blank: '  ',
        'shop.name': 'Acme',
        shop: 'text',
        'a.b': 'short',
        'a.b.c': 'long',
        'odd.': 'kept flat',
      }),
    ).toEqual({
      'user.name': 'Ada',
      'user.address.city': 'Lisbon',
      user: { name: 'Ada', address: { city: 'Lisbon' } },
      'shop.name': 'Acme',
      shop: 'text',
      'a.b': 'short',
      'a.b.c': 'long',
      a: { b: 'short' },
      'odd.': 'kept flat',
    });
    const proto = renderData({ '__proto__.x': 'y', __proto__: 'z' } as Record<string, unknown>);
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
  });
});
