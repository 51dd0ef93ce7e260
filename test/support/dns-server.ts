// A tiny authoritative DNS server over UDP (RFC 1035) for tests of callback vetting: it answers
// A and AAAA queries as the test says, per name and per query, so a name can change its answer
// between the check at campaign creation and the one at delivery (DNS rebinding). TTL 0, so no
// resolver may keep an answer.
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';

export type RecordType = 'A' | 'AAAA';
/** Addresses for the n-th query (from 0) of this name and type; [] no such record; undefined NXDOMAIN. */
export type Answer = (name: string, type: RecordType, n: number) => string[] | undefined;

const TYPES: Record<number, RecordType> = { 1: 'A', 28: 'AAAA' };
const TYPE_CODES: Record<RecordType, number> = { A: 1, AAAA: 28 };

export async function startDnsServer(answer: Answer) {
  const queries: { name: string; type: RecordType | number }[] = [];
  const asked = new Map<string, number>();
  const socket = createSocket('udp4');
  socket.on('message', (query: Buffer, from: RemoteInfo) => {
    const question = parseQuestion(query);
    if (!question) return;
    const type = TYPES[question.type];
    queries.push({ name: question.name, type: type ?? question.type });
    const key = `${question.name} ${type}`;
    const n = asked.get(key) ?? 0;
    asked.set(key, n + 1);
    const addresses = type ? answer(question.name, type, n) : [];
    socket.send(response(query, question.end, type, addresses), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    /** For CALLBACK_DNS_SERVERS. */
    server: `127.0.0.1:${socket.address().port}`,
    queries,
    /** Queries received for this name (and type). */
    count: (name: string, type?: RecordType) => queries.filter((q) => q.name === name && (!type || q.type === type)).length,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function parseQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    const length = query[at]!;
    labels.push(query.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  if (at + 5 > query.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: query.readUInt16BE(at + 1), end: at + 5 };
}

function response(query: Buffer, questionEnd: number, type: RecordType | undefined, addresses: string[] | undefined): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  // QR, authoritative, recursion desired and available; rcode 3 (NXDOMAIN) when the name is unknown.
  header.writeUInt16BE(0x8580 | (addresses === undefined ? 3 : 0), 2);
  header.writeUInt16BE(1, 4);
  const records = (addresses ?? []).filter((a) => isIP(a) === (type === 'AAAA' ? 6 : 4));
  header.writeUInt16BE(records.length, 6);
  const answers = records.map((address) => {
    const data = type === 'AAAA' ? ipv6Bytes(address) : Buffer.from(address.split('.').map(Number));
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // the question's name
    record.writeUInt16BE(TYPE_CODES[type!], 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(0, 6); // TTL
    record.writeUInt16BE(data.length, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -dotted[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  return bytes;
}
