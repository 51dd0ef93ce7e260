// Cutting one recipient's rows out of a recipient CSV (activities/recipient-files.ts): found as
// ingest reads the file, by the hash of the email cell only, and cut byte for byte, so every
// other row, quote, line ending and the BOM stay exactly as uploaded.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { cut, findRecipient, streamMentions } from '../../activities/recipient-files';
import { recipientHash } from '../../src/domain/recipient-hash';

const target = 'ada@example.com';
const hash = recipientHash(target);
const erase = async (text: string) => {
  const file = Buffer.from(text);
  const found = await findRecipient(file, hash);
  return { found, after: cut(file, found.ranges).toString() };
};

describe('erasing a recipient from a CSV', () => {
  it("finds an address in the engine's own export, where a formula guard quotes it", async () => {
    const person = '=sum@example.com';
    const file = Buffer.from(`message_id,email\r\nb00001-r000000001,'${person}\r\nb00001-r000000002,bob@example.com\r\n`);
    const found = await findRecipient(file, recipientHash(person));
    expect(cut(file, found.ranges).toString()).toBe('message_id,email\r\nb00001-r000000002,bob@example.com\r\n');
    // A quote the tenant typed before an ordinary address is part of that cell, not a guard.
    expect((await findRecipient(Buffer.from(`email\n'ada@example.com\n`), hash)).ranges).toEqual([]);
  });

  it('cuts every row whose email cell is the address (any case, padded), and nothing else', async () => {
    const { found, after } = await erase(
      '\uFEFFEmail,name,notes\r\n' +
        'bob@example.com,Bob,"multi\r\nline, quoted"\r\n' +
        ' ADA@Example.com ,Ada,"her ""notes"""\r\n' +
        '\r\n' +
        'carl@example.com,Carl,x\r\n' +
        'ada@example.com,Ada again,y',
    );
    expect(found.unreadable).toBe(false);
    expect(found.ranges).toHaveLength(2);
    // The empty line after Ada's row belongs to Carl's record (ingest skips it there): it stays.
    expect(after).toBe('\uFEFFEmail,name,notes\r\nbob@example.com,Bob,"multi\r\nline, quoted"\r\n\r\ncarl@example.com,Carl,x\r\n');
  });

  it('leaves a file without the recipient as it is, including the address in another column', async () => {
    const text = 'email,referrer\nbob@example.com,ada@example.com\n';
    const { found, after } = await erase(text);
    expect(found).toEqual({ ranges: [], unreadable: false });
    expect(after).toBe(text);
  });

  it('says so when the address is in a part of the file no CSV reader gets to', async () => {
    // A quote never closed: ingest reads nothing past it, and neither can a cut.
    const { found } = await erase('email,name\nbob@example.com,"Bob\ncarl@example.com,x\nada@example.com,Ada\n');
    expect(found.unreadable).toBe(true);
    const other = await erase('email,name\nbob@example.com,"Bob\ncarl@example.com,x\n');
    expect(other.found.unreadable).toBe(false);
  });

  it('finds the address in a file without an email column only as text', async () => {
    expect((await erase('name,address\nAda,<ada@example.com>\n')).found).toEqual({ ranges: [], unreadable: true });
  });

  it('finds the address across chunk boundaries in a stream too large to hold', async () => {
    const text = `${'x'.repeat(1000)},ADA@example.com,${'y'.repeat(1000)}`;
    const chunks = [text.slice(0, 1005), text.slice(1005)].map((t) => Buffer.from(t));
    expect(await streamMentions(Readable.from(chunks), hash)).toBe(true);
    expect(await streamMentions(Readable.from([Buffer.from('bob@example.com')]), hash)).toBe(false);
  });
});
