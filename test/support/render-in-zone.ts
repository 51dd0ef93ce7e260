// Renders templates in a process of its own, so that a test can choose the host time zone
// (TZ is read when a process starts): `node --import tsx render-in-zone.ts '<json>'`, where the
// JSON is a list of { parts, data, options }. Prints, as JSON, each render by the engine, and
// the same HTML rendered by plain liquidjs, with its defaults and with `timezoneOffset: 0`, for comparison.
import { Liquid } from 'liquidjs';
import { compileTemplate, type RenderOptions, type TemplateParts } from '../../src/domain/template';

type Job = { parts: TemplateParts; data: Record<string, unknown>; options?: RenderOptions };

async function main(): Promise<void> {
  const jobs = JSON.parse(process.argv[2] ?? '[]') as Job[];
  const plain = new Liquid();
  const utc = new Liquid({ timezoneOffset: 0 });
  const results = [];
  for (const job of jobs) {
    const engine = await compileTemplate(job.parts).render(job.data, job.options);
    results.push({
      engine,
      liquidjs: await plain.parseAndRender(job.parts.html, job.data),
      liquidjsUtc: await utc.parseAndRender(job.parts.html, job.data),
    });
  }
  process.stdout.write(JSON.stringify({ zone: Intl.DateTimeFormat().resolvedOptions().timeZone, results }));
}

void main();
