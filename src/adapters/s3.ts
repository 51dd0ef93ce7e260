// Object storage for uploaded templates and recipient files: presigned uploads, size checks, streaming reads.
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';

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
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (error as { name?: string }).name === 'NotFound') return undefined;
      throw error;
    }
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

  async getStream(key: string): Promise<Readable> {
    const { Body } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    if (!Body) throw new Error(`empty object ${key}`);
    return Body as Readable;
  }

  async putText(key: string, body: string, contentType: string): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }
}

export const s3Keys = {
  template: (tenantId: string, templateId: string) => `tenants/${tenantId}/templates/${templateId}.html`,
  file: (tenantId: string, fileId: string) => `tenants/${tenantId}/files/${fileId}.csv`,
};
