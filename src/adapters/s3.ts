// Object storage for uploaded templates and recipient files: presigned uploads, size checks,
// reads that never take more than a limit, and pinned copies. A tenant writes only the upload
// key its presigned URL names, and may keep writing it until the URL expires; what the engine
// checked and uses lives under `pinned/` (s3Keys), which no presigned URL ever names.
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
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

  /**
   * A download link for `key`, valid `ttlSeconds`; with `fileName`, the browser saves it under that
   * name. Anyone holding the link can read the object until it expires.
   */
  async presignGet(key: string, ttlSeconds: number, fileName?: string): Promise<{ url: string; expires_at: string }> {
    const disposition = fileName ? `attachment; filename="${fileName.replace(/["\\\r\n]/g, '_')}"` : undefined;
    const url = await getSignedUrl(
      this.s3,
      new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentDisposition: disposition }),
      {
        expiresIn: ttlSeconds,
      },
    );
    return { url, expires_at: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
  }

  // A multipart upload, part by part (exports): memory holds one part, whatever the object's size.
  // Every part but the last must be at least 5 MiB on S3. An upload never completed (an export
  // that failed) keeps its parts until the bucket's lifecycle rule (AbortIncompleteMultipartUpload) removes them.

  async startMultipart(key: string, contentType: string): Promise<string> {
    const { UploadId } = await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: contentType }));
    if (!UploadId) throw new Error(`S3 gave no upload id for ${key}`);
    return UploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<CompletedPart> {
    const { ETag } = await this.s3.send(
      new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body }),
    );
    return { PartNumber: partNumber, ETag };
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void> {
    await this.s3.send(
      new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Every object under `prefix` in key order (after `startAfter`, when given), a page (1,000) at a time. */
  async *list(prefix: string, startAfter?: string): AsyncGenerator<StoredObject> {
    let token: string | undefined;
    do {
      const command = new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, StartAfter: startAfter });
      // s3rver signs a bucket listing's path without its trailing slash (S3 accepts either).
      command.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { path?: string };
          if (request.path) request.path = request.path.replace(/^(\/[^/]+)\/$/, '$1');
          return next(args);
        },
        { step: 'build', name: 'bucketPathWithoutSlash' },
      );
      const page = await this.s3.send(command);
      for (const o of page.Contents ?? []) {
        if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

export const s3Keys = {
  /** Upload keys: what the presigned URLs name, writable by the tenant until the URL expires. */
  template: (tenantId: string, templateId: string) => `tenants/${tenantId}/templates/${templateId}.html`,
  /** Where version n ≥ 2 of a template is uploaded (version 1 is `template`). */
  templateVersion: (tenantId: string, templateId: string, version: number) =>
    `tenants/${tenantId}/templates/${templateId}/v${version}.html`,
  file: (tenantId: string, fileId: string) => `tenants/${tenantId}/files/${fileId}.csv`,
  /** Pinned copies (written once by the engine, never presigned): a confirmed template's bytes, a campaign's CSV. */
  pinnedTemplate: (tenantId: string, templateId: string, version: string) => `pinned/${tenantId}/templates/${templateId}/${version}.html`,
  pinnedFile: (tenantId: string, fileId: string, version: string) => `pinned/${tenantId}/files/${fileId}/${version}.csv`,
  /** Where a tenant's recipient files are (retention and erasure): its uploads, then their pinned copies. */
  recipientFilePrefixes: (tenantId: string) => [`tenants/${tenantId}/files/`, `pinned/${tenantId}/files/`],
  /**
   * A campaign's result export (issue 15, item 5): written by the engine only, read through
   * presigned links. Among the tenant's pinned recipient files, because it lists recipients: the
   * retention sweep deletes it after the upload retention, and an erasure cuts the person's rows
   * out of it (its `email` column) as from any recipient file.
   */
  campaignExport: (tenantId: string, transactionId: string, exportId: string) =>
    `pinned/${tenantId}/files/exports/${transactionId}/${exportId}.csv`,
  /** Where every tenant's objects are. */
  tenantRoots: ['tenants/', 'pinned/'],
  /** The tenant whose recipient file (upload or pinned copy) `key` is; undefined for any other object. */
  recipientFileTenant: (key: string) => /^(?:tenants|pinned)\/([^/]+)\/files\//.exec(key)?.[1],
};
