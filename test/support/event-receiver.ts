// A receiver for per-message event webhooks (issue 17, item 1), for the e2e test and the drill:
// verifies every POST with the standardwebhooks package, counts each event id (raw duplicates
// too), keeps each message's events in arrival order, and can go down (connections refused)
// and come back on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { MessageEvent } from '../../src/domain/event-webhooks';

/** Where an event type may come in a message's life: a later one never arrives before an earlier one. */
export const EVENT_RANK: Record<string, number> = {
  sent: 0,
  failed: 0,
  delivered: 1,
  bounced: 1,
  delivery_delayed: 1,
  complained: 2,
  opened: 2,
  clicked: 3,
  unsubscribed: 4,
};

export async function startEventReceiver() {
  let secret: string | undefined;
  let server: Server | undefined;
  let port = 0;
  const counts = new Map<string, number>();
  const perMessage = new Map<string, string[]>();
  const firstSeenAt = new Map<string, number>();
  const stats = { posts: 0, unverified: 0, events: 0 };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let payload: { events: MessageEvent[] };
      try {
        payload = new Webhook(secret!.slice('whsec_'.length)).verify(body, req.headers as Record<string, string>) as {
          events: MessageEvent[];
        };
      } catch {
        stats.unverified++;
        res.writeHead(401).end();
        return;
      }
      stats.posts++;
      for (const event of payload.events) {
        stats.events++;
        counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
        if (counts.get(event.id) === 1) {
          firstSeenAt.set(event.id, Date.now());
          const key = `${event.transaction_id}/${event.message_id}`;
          perMessage.set(key, [...(perMessage.get(key) ?? []), event.type]);
        }
      }
      res.writeHead(204).end();
    });
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer(handler);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}/events`;
    },
    setSecret(value: string) {
      secret = value;
    },
    counts,
    perMessage,
    firstSeenAt,
    stats,
    /** Distinct ids received, ids received more than once (and how many extra copies). */
    summary() {
      const values = [...counts.values()];
      return {
        distinct: counts.size,
        duplicateIds: values.filter((c) => c > 1).length,
        extraCopies: values.reduce((s, c) => s + c - 1, 0),
      };
    },
    /** Messages whose events did not arrive in life order (a delivered before its sent, an open before its delivery…). */
    orderViolations(): string[] {
      return [...perMessage.entries()]
        .filter(([, types]) => types.some((t, i) => i > 0 && EVENT_RANK[t]! < EVENT_RANK[types[i - 1]!]!))
        .map(([key, types]) => `${key}: ${types.join(',')}`);
    },
    async down() {
      const s = server!;
      server = undefined;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
    up: listen,
    async close() {
      if (server) await this.down();
    },
  };
}

export type EventReceiver = Awaited<ReturnType<typeof startEventReceiver>>;
