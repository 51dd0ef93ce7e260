// Workflow histories recorded by the workflow tests (RECORD_HISTORIES=1) and replayed by
// test/replay: a change that breaks determinism for running campaigns fails the replay.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'histories');

/**
 * With RECORD_HISTORIES=1, records the workflow's history as test/histories/<name>.json, but
 * only if no history of that name exists: a committed history was recorded by earlier code and
 * is the proof that campaigns it started survive a deploy, so it is never re-recorded. A
 * workflow change records its new path under a new name.
 */
export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  if (existsSync(join(HISTORIES_DIR, `${name}.json`))) {
    console.warn(`[histories] ${name}.json exists and is kept (histories are never re-recorded)`);
    return;
  }
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
}

export function committedHistories() {
  if (!existsSync(HISTORIES_DIR)) return [];
  return readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'))),
    }));
}
