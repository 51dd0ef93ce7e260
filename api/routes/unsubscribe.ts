// One-click unsubscribe (RFC 8058): POST to the List-Unsubscribe URL suppresses the address for
// the tenant; GET shows a page with one button (mail clients and link scanners only GET, so a
// GET never unsubscribes anyone by itself).
import express, { Router } from 'express';
import { verifyUnsubscribeToken, type UnsubscribeClaims } from '../../src/domain/unsubscribe-token';
import { batchIdOfMessage } from '../../src/adapters/dynamo/keys';
import type { ApiDeps } from '../deps';

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">${body}</body></html>`;
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function unsubscribeRoutes(deps: ApiDeps): Router {
  const router = Router();
  const claimsOf = (token: string) => verifyUnsubscribeToken(deps.config.UNSUBSCRIBE_SECRET!, token);
  const notFound = page('Link not valid', '<p>This unsubscribe link is not valid.</p>');

  router.get('/:token', (req, res) => {
    const claims = claimsOf(req.params.token);
    if (!claims) return res.status(404).type('html').send(notFound);
    res
      .type('html')
      .send(
        page(
          'Unsubscribe',
          `<p>Stop emails to <strong>${escape(claims.email)}</strong>?</p>` +
            `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">` +
            `<button type="submit">Unsubscribe</button></form>`,
        ),
      );
  });

  router.post('/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const claims = claimsOf(req.params.token);
    if (!claims) return res.status(404).type('html').send(notFound);
    await unsubscribe(deps, claims);
    res
      .type('html')
      .send(page('Unsubscribed', `<p><strong>${escape(claims.email)}</strong> will receive no more emails from this sender.</p>`));
  });
  return router;
}

async function unsubscribe(deps: ApiDeps, claims: UnsubscribeClaims): Promise<void> {
  const at = new Date().toISOString();
  await deps.suppressions.addSuppression({
    tenant_id: claims.tenantId,
    email: claims.email,
    reason: 'UNSUBSCRIBED',
    source: { event: 'one_click_unsubscribe', transaction_id: claims.transactionId, message_id: claims.messageId },
    created_at: at,
  });
  const batchId = batchIdOfMessage(claims.messageId);
  if (batchId) {
    await deps.messages.applyEffect(
      { transactionId: claims.transactionId, batchId, messageId: claims.messageId, sesMessageId: '' },
      { kind: 'subscription', at, flag: 'unsubscribed_time', outcome: false, fields: { unsubscribe_method: 'one_click' } },
    );
  }
}
