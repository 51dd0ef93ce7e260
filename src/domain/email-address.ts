// Email address syntax check and normalisation for recipient lists: a deliberately
// conservative subset of RFC 5321/5322 (dot-atom local part, ASCII hostname domain).

const MAX_LOCAL_LENGTH = 64;
// RFC 5321 path limit (256) minus the angle brackets.
const MAX_ADDRESS_LENGTH = 254;
const MAX_LABEL_LENGTH = 63;

// Quoted local parts and comments are legal but practically never real recipients, and
// several providers reject them, so only the dot-atom form is accepted.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
// A numeric or single-letter TLD means a typo or an IP literal, neither deliverable here.
const TOP_LABEL = /^[A-Za-z]{2,}$/;
const WHITESPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f]/;

export function normalizeEmail(raw: string): string | null {
  const address = raw.trim();
  if (address.length === 0 || address.length > MAX_ADDRESS_LENGTH) return null;
  if (WHITESPACE_OR_CONTROL.test(address)) return null;

  const parts = address.split('@');
  if (parts.length !== 2) return null;
  const [local = '', domain = ''] = parts;

  if (local.length === 0 || local.length > MAX_LOCAL_LENGTH || !DOT_ATOM.test(local)) return null;
  if (!isHostname(domain)) return null;

  // Local parts are case-sensitive in theory, but no mainstream provider treats them so,
  // and lowercasing everything is what makes duplicate detection useful.
  return address.toLowerCase();
}

export function emailDomain(email: string): string {
  const at = email.lastIndexOf('@');
  return at < 0 ? '' : email.slice(at + 1).toLowerCase();
}

function isHostname(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  for (const label of labels) {
    if (label.length > MAX_LABEL_LENGTH || !LABEL.test(label)) return false;
  }
  return TOP_LABEL.test(labels[labels.length - 1] ?? '');
}
