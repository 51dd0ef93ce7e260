// One-click unsubscribe (RFC 8058): POST to the List-Unsubscribe URL suppresses the address for
// the tenant; GET shows a page with one button (mail clients and link scanners only GET, so a
// GET never unsubscribes anyone by itself). A campaign with a topic (issue 15, item 7): the page
// offers "this topic" and "everything" (two forms posting `scope` to the same URL), and the
// one-click POST, which has no scope, leaves the topic only.
import express, { Router } from 'express';
import { verifyUnsubscribeToken, type UnsubscribeClaims } from '../../src/domain/unsubscribe-token';
import { unsubscribeScope, type UnsubscribeScope } from '../../src/domain/topics';
import { batchIdOfMessage } from '../../src/adapters/dynamo/keys';
import type { ApiDeps } from '../deps';

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">${body}</body></html>`;
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const form = (fields: string, label: string) => `<form method="post">${fields}<button type="submit">${label}</button></form>`;

export function unsubscribeRoutes(deps: ApiDeps): Router {
  const router = Router();
  const claimsOf = (token: string) => verifyUnsubscribeToken(deps.config.UNSUBSCRIBE_SECRET!, token);
  const notFound = page('Link not valid', '<p>This unsubscribe link is not valid.</p>');
  /** How the page names the campaign's topic: its display name, else its name. */
  const topicLabel = async (claims: UnsubscribeClaims & { topic: string }) =>
    (await deps.topics.getTopic(claims.tenantId, claims.topic))?.display_name ?? claims.topic;

  router.get('/:token', async (req, res) => {
    const claims = claimsOf(req.params.token);
    if (!claims) return res.status(404).type('html').send(notFound);
    const who = `<strong>${escape(claims.email)}</strong>`;
    const body =
      claims.topic === undefined
        ? `<p>Stop emails to ${who}?</p>` + form('<input type="hidden" name="List-Unsubscribe" value="One-Click">', 'Unsubscribe')
        : `<p>Stop emails to ${who}?</p>` +
          form(
            '<input type="hidden" name="scope" value="topic">',
            `Unsubscribe from ${escape(await topicLabel({ ...claims, topic: claims.topic }))}`,
          ) +
          form('<input type="hidden" name="scope" value="all">', 'Unsubscribe from everything');
    res.type('html').send(page('Unsubscribe', body));
  });

  router.post('/:token', express.urlencoded({ extended: false, limit: '4kb' }), async (req, res) => {
    const claims = claimsOf(req.params.token);
    if (!claims) return res.status(404).type('html').send(notFound);
    const scope = unsubscribeScope(claims.topic, (req.body as Record<string, unknown> | undefined)?.scope);
    await unsubscribe(deps, claims, scope);
    const who = `<strong>${escape(claims.email)}</strong>`;
    const done =
      scope === 'topic'
        ? `<p>${who} will receive no more emails about ${escape(await topicLabel({ ...claims, topic: claims.topic! }))}.</p>`
        : `<p>${who} will receive no more emails from this sender.</p>`;
    res.type('html').send(page('Unsubscribed', done));
  });
  return router;
}

async function unsubscribe(deps: ApiDeps, claims: UnsubscribeClaims, scope: UnsubscribeScope): Promise<void> {
  const at = new Date().toISOString();
  const source = { event: 'one_click_unsubscribe', transaction_id: claims.transactionId, message_id: claims.messageId };
  const record = { tenant_id: claims.tenantId, email: claims.email, reason: 'UNSUBSCRIBED', source, created_at: at };
  if (scope === 'topic') await deps.topics.addTopicSuppression({ ...record, topic: claims.topic! });
  else await deps.suppressions.addSuppression(record);
  const batchId = batchIdOfMessage(claims.messageId);
  if (batchId) {
    const fields = { unsubscribe_method: 'one_click', ...(scope === 'topic' ? { unsubscribe_scope: 'topic', topic: claims.topic } : {}) };
    const ref = { transactionId: claims.transactionId, batchId, messageId: claims.messageId, sesMessageId: '' };
    const result = await deps.messages.applyEffect(ref, { kind: 'subscription', at, flag: 'unsubscribed_time', outcome: false, fields });
    await deps.eventLog?.noteEffect(result, ref);
  }
}
