// Unit tests for email address normalisation and domain extraction.
import { describe, expect, it } from 'vitest';
import { emailDomain, normalizeEmail } from '../../src/domain/email-address';

describe('normalizeEmail', () => {
  it.each([
    ['alice@example.com', 'alice@example.com'],
    ['  Alice.Smith@Example.COM \t', 'alice.smith@example.com'],
    ['first+tag@sub.example.co.uk', 'first+tag@sub.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ["!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com"],
    ['a@b-c.example.org', 'a@b-c.example.org'],
    ['x@123.example.com', 'x@123.example.com'],
  ])('accepts %j as %j', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'blank'],
    ['alice', 'no @'],
    ['alice@', 'empty domain'],
    ['@example.com', 'empty local part'],
    ['a@b@example.com', 'two @'],
    ['al ice@example.com', 'inner space'],
    ['alice@exa mple.com', 'space in domain'],
    ['alice\u0000@example.com', 'NUL'],
    ['alice\r\n@example.com', 'CRLF'],
    ['ali\u007fce@example.com', 'DEL'],
    ['alice\u00a0x@example.com', 'no-break space'],
    ['.alice@example.com', 'leading dot'],
    ['alice.@example.com', 'trailing dot'],
    ['al..ice@example.com', 'doubled dot'],
    ['"alice"@example.com', 'quoted local part'],
    ['al(ice)@example.com', 'comment characters'],
    ['alice@localhost', 'single-label domain'],
    ['alice@example.c', 'one-letter TLD'],
    ['alice@example.123', 'numeric TLD'],
    ['alice@-example.com', 'label starts with hyphen'],
    ['alice@example-.com', 'label ends with hyphen'],
    ['alice@example..com', 'empty label'],
    ['alice@example.com.', 'trailing dot in domain'],
    ['alice@[127.0.0.1]', 'IP literal'],
    ['alice@exa_mple.com', 'underscore in domain'],
    ['jöns@example.com', 'non-ASCII local part'],
    ['alice@bücher.de', 'non-ASCII domain'],
  ])('rejects %j (%s)', (raw) => {
    expect(normalizeEmail(raw)).toBeNull();
  });

  it('enforces the 64-character local part limit', () => {
    expect(normalizeEmail(`${'a'.repeat(64)}@example.com`)).toBe(`${'a'.repeat(64)}@example.com`);
    expect(normalizeEmail(`${'a'.repeat(65)}@example.com`)).toBeNull();
  });

  it('enforces the 63-character label limit', () => {
    expect(normalizeEmail(`a@${'b'.repeat(63)}.com`)).toBe(`a@${'b'.repeat(63)}.com`);
    expect(normalizeEmail(`a@${'b'.repeat(64)}.com`)).toBeNull();
  });

  it('enforces the 254-character total limit after trimming', () => {
    // 64 + 1 + 189 = 254 characters.
    const domain = `${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(63)}.com`;
    const address = `${'a'.repeat(64)}@${domain}`;
    expect(address).toHaveLength(254);
    expect(normalizeEmail(`  ${address}  `)).toBe(address);
    expect(normalizeEmail(`${address.slice(0, 64)}@g${domain}`)).toBeNull();
  });
});

describe('emailDomain', () => {
  it('returns the lowercased part after the last @', () => {
    expect(emailDomain('alice@Example.COM')).toBe('example.com');
    expect(emailDomain('odd@local@Host.org')).toBe('host.org');
  });

  it('returns an empty string when there is no @', () => {
    expect(emailDomain('not-an-address')).toBe('');
  });
});
