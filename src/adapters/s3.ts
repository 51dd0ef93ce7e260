// Object storage for uploaded templates and recipient files: presigned uploads, size checks,
// reads that never take more than a limit, and pinned copies. A tenant writes only the upload
// key its presigned URL names, and may keep writing it until the URL expires; what the engine
// checked and uses lives under `pinned/` (s3Keys), which no presigned URL ever names.
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Transform, type Readable } from 'node:stream';

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const isNotFound = (error: unknown) =>
  statusOf(error) === 404 || ['NotFound', 'NoSuchKey'].includes((error as { name?: string }).name ?? '');

/** A read of an object that went past the limit it was given. */
export class ObjectTooLargeError extends Error {
  readonly code = 'OBJECT_TOO_LARGE';
  constructor(key: string, limit: number) {
    super(`${key} is larger than ${limit} bytes`);
    this.name = 'ObjectTooLargeError';
  }
}

export class ObjectStore {
  constructor(
    readonly s3: S3Client,
    readonly bucket: string,
  ) {}

  async presignPut(key: string, contentType: string, ttlSeconds: number) {
    const url = await getSignedUrl(this.s3, new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: contentType }), {
      expiresIn: ttlSeconds,
      signableHeaders: new Set(['content-type']),
    });
    return {
      upload_url: url,
      method: 'PUT' as const,
      headers: { 'Content-Type': contentType },
      expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString(),
    };
  }

  /** Size in bytes, or undefined when nothing was uploaded. */
  async size(key: string): Promise<number | undefined> {
    try {
      const head = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * The object's first `maxBytes + 1` bytes at most: the read stops (and the request is dropped)
   * once past the limit, so a huge object is never read whole. `size` is the whole object's.
   * Undefined when there is none. (No Range header: s3rver cannot serve one on an empty object.)
   */
  async readUpTo(key: string, maxBytes: number): Promise<{ body: Buffer; size: number } | undefined> {
    let res;
    try {
      res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const chunks: Buffer[] = [];
    let read = 0;
    const body = res.Body as Readable | undefined;
    if (body) {
      try {
        for await (const chunk of body) {
          chunks.push(chunk as Buffer);
          read += (chunk as Buffer).length;
          if (read > maxBytes) break;
        }
      } finally {
        body.destroy();
      }
    }
    const bytes = Buffer.concat(chunks);
    return { body: bytes.subarray(0, maxBytes + 1), size: Math.max(res.ContentLength ?? 0, bytes.length) };
  }

  async getText(key: string): Promise<string> {
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!Body) throw new Error(`empty object ${key}`);
    return Body.transformToString('utf-8');
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }));
    if (!Body) throw new Error(`empty object ${key}`);
    return Body.transformToByteArray();
  }

  /**
   * Streams the object. With `maxBytes`, the stream fails (ObjectTooLargeError) as soon as more
   * than that has come, and the request is dropped: a larger object than was checked is never
   * read whole, nor silently cut.
   */
  async getStream(key: string, opts: { maxBytes?: number } = {}): Promise<Readable> {
    const { maxBytes } = opts;
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!Body) throw new Error(`empty object ${key}`);
    if (maxBytes === undefined) return Body as Readable;
    let seen = 0;
    const limited = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        seen += chunk.length;
        if (seen > maxBytes) done(new ObjectTooLargeError(key, maxBytes));
        else done(null, chunk);
      },
    });
    const source = Body as Readable;
    source.on('error', (error) => limited.destroy(error));
    limited.on('close', () => source.destroy());
    return source.pipe(limited);
  }

  async putText(key: string, body: string, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  async putBytes(key: string, body: Uint8Array, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  /**
   * A server-side copy: `to` holds `from` as it was at that moment, whatever is written to `from`
   * later. False when there is no `from`.
   */
  async copy(from: string, to: string): Promise<boolean> {
    const source = `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
    try {
      await this.s3.send(new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: source }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

export const s3Keys = {
  /** Upload keys: what the presigned URLs name, writable by the tenant until the URL expires. */
  template: (tenantId: string, templateId: string) => `tenants/${tenantId}/templates/${templateId}.html`,
  file: (tenantId: string, fileId: string) => `tenants/${tenantId}/files/${fileId}.csv`,
  /** Pinned copies (written once by the engine, never presigned): a confirmed template's bytes, a campaign's CSV. */
  pinnedTemplate: (tenantId: string, templateId: string, version: string) => `pinned/${tenantId}/templates/${templateId}/${version}.html`,
  pinnedFile: (tenantId: string, fileId: string, version: string) => `pinned/${tenantId}/files/${fileId}/${version}.csv`,
};
