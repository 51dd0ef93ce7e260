// Every AWS call ends within its request timeout, well below a send attempt's heartbeat
// timeout: a server that accepts the connection and never answers stands in for a hung SES.
// (Before throwOnRequestTimeout the SDK only logged a warning and the call hung on; found by
// the ses-hang drill.)
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_TIMEOUTS, createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { SendError, SesMessenger } from '../../src/adapters/ses';
import { SEND_HEARTBEAT_TIMEOUT_MS } from '../../src/contracts';

let server: Server;
let endpoint: string;
beforeAll(async () => {
  server = createServer(() => undefined); // reads the request, never answers
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const email = { from: 'a@example.com', to: 'b@example.com', subject: 's', html: '<p>h</p>', headers: {}, tags: {} };

describe('AWS request timeouts', () => {
  it('are well below the heartbeat timeout', () => {
    for (const ms of [AWS_TIMEOUTS.sesRequestMs, AWS_TIMEOUTS.dynamodbRequestMs, AWS_TIMEOUTS.s3RequestMs]) {
      expect(ms).toBeLessThan(SEND_HEARTBEAT_TIMEOUT_MS);
    }
  });

  it('end a hung SES call as a transient (ambiguous) error within the SES timeout', { timeout: 30_000 }, async () => {
    const aws = createAwsClients({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_MODE: 'local', SES_ENDPOINT: endpoint });
    try {
      const started = Date.now();
      const error = await new SesMessenger(aws.ses, undefined).send(email).catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(error).toBeInstanceOf(SendError);
      expect((error as SendError).kind).toBe('transient');
      expect(took).toBeGreaterThanOrEqual(AWS_TIMEOUTS.sesRequestMs - 500);
      expect(took).toBeLessThan(AWS_TIMEOUTS.sesRequestMs + 3_000);
    } finally {
      destroyAwsClients(aws);
    }
  });

  it('end it at once when the attempt is cancelled', async () => {
    const aws = createAwsClients({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_MODE: 'local', SES_ENDPOINT: endpoint });
    try {
      const cancel = new AbortController();
      const started = Date.now();
      const sending = new SesMessenger(aws.ses, undefined).send(email, cancel.signal).catch((e: unknown) => e);
      setTimeout(() => cancel.abort(), 200);
      const error = await sending;
      expect(error).toBeInstanceOf(SendError);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      destroyAwsClients(aws);
    }
  });
});
