// Feeds OpenSearch from the event path without ever holding it up: documents wait in memory
// and go out in bulk every second; while OpenSearch is slow or down they keep waiting (and are
// retried), so analytics lag and then catch up, and nothing else notices.
import type { Analytics, EmailEventDoc, EmailMessageDoc } from '../adapters/opensearch';
import type { Logger } from '../logging';

const FLUSH_MS = 1000;
/** Past this many waiting documents the oldest are dropped (and logged): memory stays bounded. */
const MAX_QUEUED = 500_000;

export class AnalyticsIndexer {
  private events: EmailEventDoc[] = [];
  private messages: EmailMessageDoc[] = [];
  private timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private templatesReady = false;
  private failures = 0;
  indexed = 0;
  dropped = 0;

  constructor(
    private readonly analytics: Analytics,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  add(event: EmailEventDoc | undefined, message: EmailMessageDoc | undefined): void {
    if (event) this.events.push(event);
    if (message) this.messages.push(message);
    const over = this.events.length + this.messages.length - MAX_QUEUED;
    if (over > 0) {
      this.dropped += over;
      this.events.splice(0, Math.min(over, this.events.length));
      this.log.error('analytics queue full: oldest documents dropped', { dropped: this.dropped });
    }
  }

  get queued(): number {
    return this.events.length + this.messages.length;
  }

  flush(): Promise<void> {
    this.flushing ??= this.send().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async send(): Promise<void> {
    if (this.queued === 0) return;
    const events = this.events.splice(0, 5000);
    const messages = this.messages.splice(0, 5000);
    try {
      if (!this.templatesReady) {
        await this.analytics.ensureTemplates();
        this.templatesReady = true;
      }
      // Message upserts merge in order, so a batch keeps the order the events were applied in.
      const [e, m] = [
        events.length ? await this.analytics.indexEvents(events) : undefined,
        messages.length ? await this.analytics.upsertMessages(messages) : undefined,
      ];
      const failed = [...(e?.failed ?? []), ...(m?.failed ?? [])];
      if (failed.length > 0) this.log.warn('analytics documents refused', { count: failed.length, first: failed[0] });
      this.indexed += events.length + messages.length - failed.length;
      this.failures = 0;
    } catch (error) {
      // OpenSearch unreachable or overloaded: put the documents back in front and try later.
      this.events.unshift(...events);
      this.messages.unshift(...messages);
      if (this.failures++ % 30 === 0) this.log.warn('analytics indexing delayed', { queued: this.queued, error: (error as Error).message });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
