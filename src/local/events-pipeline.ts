// The local stand-in for "SES publishes events to SNS, SNS posts them to us": a signer with
// its own certificate (trusted by the local API only) and the event source that watches the
// SES emulator. Used by `npm start`; tests build the same pieces per test file.
import { startSnsSigner, type SnsSigner } from './sns-signer';
import { startEventSource, type EventSource } from './event-source';

export interface LocalEventsPipeline {
  /** Environment for the API: trust this signer's certificate, accept its topic. */
  env: Record<string, string>;
  signer: SnsSigner;
  connect(apiUrl: string, pollMs?: number): Promise<void>;
  /** Resolves once every email sent so far has had its events posted. */
  flush(): Promise<void>;
  /** The event source's counts so far (zeros before `connect`): emails seen, events posted (2xx), events given up. */
  stats(): ReturnType<EventSource['stats']>;
  stop(): Promise<void>;
}

export async function startLocalEventsPipeline(opts: {
  topicArn: string;
  sesEndpoint: string;
  log?: (line: string) => void;
}): Promise<LocalEventsPipeline> {
  const signer: SnsSigner = await startSnsSigner({ topicArn: opts.topicArn });
  let source: EventSource | undefined;
  return {
    env: { SNS_TRUSTED_CERT_URLS: signer.certUrl, SNS_TOPIC_ARNS: opts.topicArn },
    signer,
    async connect(apiUrl: string, pollMs?: number) {
      source = await startEventSource({
        sesEndpoint: opts.sesEndpoint,
        targetUrl: `${apiUrl}/api/v1/events/ses`,
        signer,
        log: opts.log,
        pollMs,
      });
    },
    async flush() {
      await source?.flush();
    },
    stats: () => source?.stats() ?? { emails: 0, posted: 0, failed: 0 },
    async stop() {
      await source?.stop();
      await signer.close();
    },
  };
}
