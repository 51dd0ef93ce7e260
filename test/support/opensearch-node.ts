// A genuine OpenSearch node of the calling test file (src/local/opensearch.ts), on a free port
// and a data directory of its own. Call at the top of the file, before useEngine: the hooks
// register in order, so the node starts first and stops last.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startOpenSearch } from '../../src/local/opensearch';
import { freePort } from '../../src/local/ports';

export interface OpenSearchNode {
  /** The node's base URL (only once beforeAll ran). */
  readonly url: string;
  /** Stops the node (a drill of an outage); `start` brings it back on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function useOpenSearchNode(name: string): OpenSearchNode {
  const dataDir = mkdtempSync(join(tmpdir(), `email-engine-${name}-`));
  let port = 0;
  let node: Awaited<ReturnType<typeof startOpenSearch>> | undefined;
  const handle: OpenSearchNode = {
    get url() {
      if (!node) throw new Error('the OpenSearch node is not running');
      return node.url;
    },
    async stop() {
      await node?.stop();
      node = undefined;
    },
    async start() {
      node = await startOpenSearch({ port, dataDir });
    },
  };
  beforeAll(async () => {
    port = await freePort();
    await handle.start();
  }, 300_000);
  afterAll(async () => {
    await handle.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return handle;
}
