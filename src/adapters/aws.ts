// AWS SDK clients built from config. Endpoints are set for the local stack and left unset
// for real AWS, where the SDK's default credential chain applies.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { countDynamoRequests } from './dynamo-request-log';
import { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import type { Config } from '../config';

// The lockfile pins SDK versions that support Node 20; the notice about future releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * Every AWS call ends within these times (socket inactivity), well below the send activity's
 * heartbeat timeout (SEND_HEARTBEAT_TIMEOUT_MS), so a hung connection fails its attempt
 * instead of outliving it while Temporal starts the retry.
 */
export const AWS_TIMEOUTS = {
  connectMs: 3_000,
  dynamodbRequestMs: 5_000,
  sesRequestMs: 10_000,
  s3RequestMs: 20_000,
} as const;

// throwOnRequestTimeout: without it the SDK's handler only logs a warning when the time passes
// and the call goes on hanging (found by the ses-hang drill).
const handler = (requestTimeout: number) => ({ connectionTimeout: AWS_TIMEOUTS.connectMs, requestTimeout, throwOnRequestTimeout: true });

// s3rver accepts exactly this key pair; DynamoDB Local and the SES emulator accept any.
const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface AwsClients {
  dynamo: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  s3: S3Client;
  ses: SESv2Client;
}

export type AwsConfig = Pick<Config, 'AWS_REGION' | 'AWS_ENDPOINT_MODE' | 'DYNAMODB_ENDPOINT' | 'S3_ENDPOINT' | 'SES_ENDPOINT'>;

function credentialsFor(config: AwsConfig, endpoint: string | undefined) {
  if (config.AWS_ENDPOINT_MODE === 'local' && endpoint && !process.env.AWS_ACCESS_KEY_ID) {
    return LOCAL_CREDENTIALS;
  }
  return undefined;
}

export function createAwsClients(config: AwsConfig): AwsClients {
  const region = config.AWS_REGION;
  const dynamo = new DynamoDBClient({
    region,
    endpoint: config.DYNAMODB_ENDPOINT,
    credentials: credentialsFor(config, config.DYNAMODB_ENDPOINT),
    maxAttempts: 5,
    requestHandler: handler(AWS_TIMEOUTS.dynamodbRequestMs),
  });
  countDynamoRequests(dynamo);
  const doc = DynamoDBDocumentClient.from(dynamo, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  const s3 = new S3Client({
    region,
    endpoint: config.S3_ENDPOINT,
    forcePathStyle: Boolean(config.S3_ENDPOINT),
    credentials: credentialsFor(config, config.S3_ENDPOINT),
    // Without this the SDK signs a CRC32 checksum into presigned PUT URLs that clients cannot match.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: handler(AWS_TIMEOUTS.s3RequestMs),
  });
  const ses = new SESv2Client({
    region,
    endpoint: config.SES_ENDPOINT,
    credentials: credentialsFor(config, config.SES_ENDPOINT),
    // Throttling is retried by the send activity's own policy, which knows the campaign.
    maxAttempts: 1,
    requestHandler: handler(AWS_TIMEOUTS.sesRequestMs),
  });
  if (config.AWS_ENDPOINT_MODE === 'local') {
    refuseDefaultEndpoint(dynamo, 'DYNAMODB_ENDPOINT', config.DYNAMODB_ENDPOINT);
    refuseDefaultEndpoint(s3, 'S3_ENDPOINT', config.S3_ENDPOINT);
    refuseDefaultEndpoint(ses, 'SES_ENDPOINT', config.SES_ENDPOINT);
  }
  return { dynamo, doc, s3, ses };
}

/**
 * In local mode a client without an endpoint would reach real AWS with whatever credentials the
 * host has (an instance role), under local settings: every call fails instead, before signing.
 */
function refuseDefaultEndpoint(client: DynamoDBClient | S3Client | SESv2Client, variable: string, endpoint: string | undefined) {
  if (endpoint) return;
  (client.middlewareStack as { add: (mw: unknown, opts: { step: 'initialize'; name: string }) => void }).add(
    () => async () => {
      throw new Error(
        `${variable} is unset with AWS_ENDPOINT_MODE=local: start the local stack (npm start) or set it; real AWS needs APP_ENV=production`,
      );
    },
    { step: 'initialize', name: 'refuseRealAwsInLocalMode' },
  );
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.doc.destroy();
  clients.dynamo.destroy();
  clients.s3.destroy();
  clients.ses.destroy();
}
