// A local stand-in for Amazon SNS's signing: a fresh RSA key and self-signed certificate per
// start, the certificate served over plain HTTP the way SNS serves its .pem files, and
// messages signed exactly as SNS signs them. Lets the local stack exercise the real verifier
// (with the cert URL as a trusted prefix) instead of skipping verification.
import { execFile } from 'node:child_process';
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { snsStringToSign, type SnsMessage } from '../domain/sns-message';

export interface SnsSigner {
  certUrl: string;
  topicArn: string;
  sign(fields: Omit<SnsMessage, 'Signature' | 'SignatureVersion' | 'SigningCertURL'>, version?: '1' | '2'): SnsMessage;
  close(): Promise<void>;
}

const CERT_PATH = '/SimpleNotificationService-local.pem';
const ALGORITHMS = { '1': 'RSA-SHA1', '2': 'RSA-SHA256' } as const;

const execFileAsync = promisify(execFile);

/** Node cannot mint X.509 certificates, so the openssl CLI does it in a throwaway directory. */
async function selfSignedCertificate(): Promise<{ key: KeyObject; certPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sns-signer-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await execFileAsync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '365',
        '-subj',
        '/CN=sns.local.invalid',
        '-keyout',
        keyPath,
        '-out',
        certPath,
      ],
      { timeout: 30_000 },
    );
    const [keyPem, certPem] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    return { key: createPrivateKey(keyPem), certPem };
  } catch (error) {
    throw new Error(`could not create the local SNS signing certificate with openssl: ${String(error)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startSnsSigner(opts: { topicArn: string; host?: string; port?: number }): Promise<SnsSigner> {
  const host = opts.host ?? '127.0.0.1';
  const { key, certPem } = await selfSignedCertificate();

  const server: Server = createServer((req, res) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && req.url === CERT_PATH) {
      res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert' });
      res.end(req.method === 'HEAD' ? undefined : certPem);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const certUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}${CERT_PATH}`;

  return {
    certUrl,
    topicArn: opts.topicArn,
    sign(fields, version = '1') {
      const unsigned: SnsMessage = { ...fields, SignatureVersion: version, SigningCertURL: certUrl, Signature: '' };
      const signature = createSign(ALGORITHMS[version]).update(snsStringToSign(unsigned), 'utf8').sign(key, 'base64');
      return { ...unsigned, Signature: signature };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
