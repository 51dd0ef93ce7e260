// `npm run lint:openapi`: writes the OpenAPI document the API serves at /openapi.json (built
// from api/openapi.ts) to a temporary file and lints it with Redocly CLI (rules: redocly.yaml).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openApiDocument } from '../api/openapi';

const root = join(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'email-engine-openapi-'));
const file = join(dir, 'openapi.json');
try {
  writeFileSync(file, JSON.stringify(openApiDocument, null, 2) + '\n');
  const result = spawnSync(
    join(root, 'node_modules', '.bin', 'redocly'),
    ['lint', file, '--config', join(root, 'redocly.yaml'), '--max-problems', '1000'],
    { cwd: root, stdio: 'inherit', env: { ...process.env, REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
  );
  if (result.error) throw result.error;
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
