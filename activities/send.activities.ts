// Sending: one chunk of a batch per call. Each message is marked SENDING with this attempt's
// token before SES is called and SENT with the SES message id after, so a retried attempt
// skips what an earlier one sent. Throttling fails the attempt (retried with backoff);
// a rejected recipient fails that message only; an account-level error fails the campaign.
//
// The rules that keep a recipient from being lost or mailed twice when attempts overlap:
// - a message is handed to SES at most once unless SES plainly refused it (throttled: back to
//   READY_TO_SEND) or the grace period passed without its Send event (SENDING_GRACE_SECONDS);
// - a message taken over after the grace stays ambiguous (SES may have it from the earlier
//   attempt): it is never handed back as READY_TO_SEND, whatever the new call's answer, and a
//   stale SENDING is taken over only by an attempt that read it so (never by a stale page);
// - `skipped` means settled (SENT or final); a message this attempt could not take because
//   another attempt holds it, or may still, is `deferred`, and the batch runs the chunk again
//   (so is one another attempt took over before this one could record SES's answer);
// - an attempt Temporal gave up on (cancellation) takes no further message and aborts its SES
//   call; every AWS call has a request timeout well below the heartbeat timeout.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { TemplateRenderError, type CompiledTemplate } from '../src/domain/template';
import { compileConfirmed, renderDataOf } from '../src/templates/render';
import { SENDABLE_STATUSES } from '../src/domain/message-status';
import { endOnSoftBounce, PER_ATTEMPT_FLAGS, type SoftBounceFinal } from '../src/domain/soft-bounce';
import { countEndedSoftBounce } from './soft-bounce-end';
import { SendError } from '../src/adapters/ses';
import { ByteBudget, heldBytes, RENDERED_BYTES_BUDGET } from './byte-budget';
import { createUnsubscribeToken } from '../src/domain/unsubscribe-token';
import { checkSenders, type SenderCheck } from '../src/identities/sender-identities';
import type { Cursor, TransitionOptions } from '../src/ports';
import type { MessageStatus } from '../src/domain/message-status';
import { sesErrorKind } from '../src/metrics/engine-metrics';
import type { MessageRecord } from '../src/adapters/dynamo/types';
import type { ActivityDeps } from './deps';
import { pinnedTemplate } from './pinned-template';

export interface SendChunkInput {
  transactionId: string;
  tenantId: string;
  templateId: string;
  batchId: string;
  limit: number;
  cursor?: Cursor;
  /** A message left SENDING by another attempt is resent only once it is older than this. */
  sendingGraceMs: number;
  /** Only messages not yet settled (the batch's proof pass before it reports sent). */
  unsettledOnly?: boolean;
  /**
   * Only soft-bounced messages whose retry is due, and retries left SENDING (issue 17, item 2):
   * each is sent again as a new attempt. Counted by the batch's recount, not the live counters.
   */
  softBounceRetry?: boolean;
  /**
   * The sort key of the last message this chunk may take (a send lane's range, issue 17 item 3):
   * a chunk that reaches it has no next cursor, so lanes never meet.
   */
  until?: string;
}

/** Where a batch's chunks end, for its send lanes: chunk j runs after bounds[j - 1] up to bounds[j]. */
export interface ChunkBoundsInput {
  transactionId: string;
  batchId: string;
  chunkSize: number;
}

export interface SendChunkResult {
  sent: number;
  failed: number;
  suppressed: number;
  skipped: number;
  /** Left SENDING by a dead attempt too recently to know whether SES took it: try again later. */
  deferred: number;
  nextCursor?: Cursor;
}

type Outcome = 'sent' | 'failed' | 'suppressed' | 'skipped' | 'deferred';

/** Statuses in which a message is settled for the send path: nothing more to hand to SES. */
const isSettled = (status: MessageRecord['status']) => !SENDABLE_STATUSES.includes(status);

/** What a soft-bounce retry pass reads: the soft-bounced, and retries an attempt left SENDING. */
const RETRY_STATUSES: readonly MessageStatus[] = ['SOFT_BOUNCED', 'SENDING'];
/** A soft-bounced message whose retry is due at `now` (ISO time). */
const retryDue = (m: MessageRecord, now: string) => m.status === 'SOFT_BOUNCED' && m.retry_at !== undefined && m.retry_at <= now;

// 250: the record takes at most 4 live writes per 1,000 messages (issue 18, item 2: no hot item).
const LIVE_COUNT_EVERY = 250;
/** Campaigns whose topic a worker remembers (the oldest read is forgotten first). */
const TOPIC_CACHE_SIZE = 1000;
/** A batch is one DynamoDB partition of at most this many messages (BATCH_SIZE ≤ 1,000). */
const MAX_BATCH_SIZE = 1000;

/**
 * Runs `fn` over `items`, `limit` at a time. After a failure no worker takes another item, and
 * the call settles only once every worker has stopped, so nothing of a failed attempt is still
 * talking to SES when its retry starts.
 */
/** Waits `ms`, or less if `signal` aborts (the attempt was given up on: the caller sees it stopped). */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, stopped: () => boolean, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const stopped = () => failure !== undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !stopped()) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, stopped, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(workers);
  if (failure) throw failure.error;
  return out;
}

export function createSendActivities(deps: ActivityDeps) {
  const { store, messages, suppressions, objects, messenger } = deps;
  const renderedBytes = deps.renderedBytes ?? new ByteBudget(RENDERED_BYTES_BUDGET);
  const metrics = deps.metrics;

  /** transitionMessage, counted (email_engine_message_transitions_total) when it moved the message. */
  async function transition(message: MessageRecord, to: MessageStatus, opts: TransitionOptions): Promise<boolean> {
    const moved = await messages.transitionMessage(message, to, opts);
    // The status it moved from: the one the write required, else the one it was read in.
    if (moved) metrics?.transitions.inc({ from: opts.from.length === 1 ? opts.from[0]! : message.status, to, tenant: message.tenant_id });
    return moved;
  }

  /** The template version the campaign pinned at creation (pinnedTemplate), compiled from its pinned copy (compileConfirmed). */
  async function loadTemplate(tenantId: string, templateId: string, transactionId: string) {
    const txn = await store.getTransaction(tenantId, transactionId);
    const { number, template } = await pinnedTemplate(deps, tenantId, templateId, txn?.template_version);
    if (!template) {
      throw ApplicationFailure.create({
        type: 'TemplateNotReady',
        message: `template ${templateId} version ${number} is not ready`,
        nonRetryable: true,
      });
    }
    return { template, compiled: await compileConfirmed(objects, template), cancelled: txn?.status === 'CANCELLED' };
  }

  /**
   * A conditional write of ours failed: the message changed since the page was read. Settled
   * (another attempt sent it, or it became final) is skipped; anything else is someone else's
   * for now (another attempt holds it SENDING, or released it) and is deferred, never dropped.
   */
  async function afterLostRace(message: MessageRecord): Promise<Outcome> {
    const now = await messages.getMessage(message.transaction_id, message.batch_id, message.message_id);
    return now && isSettled(now.status) ? 'skipped' : 'deferred';
  }

  /** Ends a retry that does not go out on the soft bounce before it (endOnSoftBounce), from the state `how` allows. */
  async function endSoftBounce(
    message: MessageRecord,
    final: SoftBounceFinal,
    how: Pick<TransitionOptions, 'from' | 'expect' | 'token' | 'orStaleSending'>,
    metadata: Record<string, unknown>,
    set?: Record<string, unknown>,
  ): Promise<boolean> {
    const end = endOnSoftBounce(final, new Date().toISOString(), set);
    const ended = await transition(message, 'BOUNCED', { ...how, ...end, metadata: { ...metadata, ...end.metadata } });
    if (ended) await countEndedSoftBounce(deps, message);
    return ended;
  }

  /**
   * A soft-bounced message's next attempt: SENDING under this attempt's mark, only from the round
   * the page read (its retry count and due time), with the attempt before it superseded (its SES
   * id kept, so its late events change nothing) and that attempt's flags removed, so the new
   * attempt's Send event settles it and its own soft bounce can be retried again.
   */
  function markRetry(message: MessageRecord, token: string): Promise<boolean> {
    const previous = [
      ...new Set([...(message.previous_ses_message_ids ?? []), ...(message.ses_message_id ? [message.ses_message_id] : [])]),
    ];
    return transition(message, 'SENDING', {
      from: ['SOFT_BOUNCED'],
      expect: { retry_at: message.retry_at, soft_bounce_retries: message.soft_bounce_retries },
      set: {
        attempt_token: token,
        previous_ses_message_ids: previous,
        ...(message.first_sent_time === undefined && message.sent_time ? { first_sent_time: message.sent_time } : {}),
      },
      remove: PER_ATTEMPT_FLAGS,
      metadata: { attempt: token, soft_bounce_retry: message.soft_bounce_retries ?? null, superseded: message.ses_message_id ?? null },
    });
  }

  async function sendOne(
    message: MessageRecord,
    ctx: {
      token: string;
      compiled: CompiledTemplate;
      from: string;
      replyTo?: string;
      /** Whether the template's senders are the tenant's verified identities, checked once per chunk. */
      sender: SenderCheck;
      suppressed: Set<string>;
      /** The campaign's topic (issue 15, item 7): in the unsubscribe link, so leaving it leaves that topic. */
      topic?: string;
      graceMs: number;
      stopped: () => boolean;
      signal: AbortSignal;
      /** A soft-bounce retry pass: a due SOFT_BOUNCED message is sent again as a new attempt. */
      retry?: boolean;
      /** The campaign was cancelled: a retry pass ends its soft bounces instead of sending them again. */
      campaignCancelled?: boolean;
    },
  ): Promise<Outcome> {
    const log = deps.log.child({ transaction_id: message.transaction_id, message_id: message.message_id });
    const retrying = ctx.retry === true && message.status === 'SOFT_BOUNCED';
    if (retrying ? !retryDue(message, new Date().toISOString()) : isSettled(message.status)) return 'skipped';
    if (ctx.stopped()) return 'deferred';
    // A retry an earlier attempt left SENDING, now suppressed: once the grace passed without a
    // Send event, no retry went out; its soft bounce is its outcome (SES took the first send).
    if (!retrying && ctx.retry === true && (message.soft_bounce_retries ?? 0) > 0 && ctx.suppressed.has(message.recipient_email)) {
      if (message.status !== 'SENDING' || Date.now() - Date.parse(message.updated_at) < ctx.graceMs) return 'deferred';
      const ended = await endSoftBounce(
        message,
        'suppressed',
        { from: ['SOFT_BOUNCED'], orStaleSending: new Date(Date.now() - ctx.graceMs).toISOString() },
        { reason: 'on_suppression_list', checked: 'before_soft_bounce_retry', took_over: message.attempt_token ?? null },
      );
      return ended ? 'suppressed' : afterLostRace(message);
    }
    if (retrying && ctx.campaignCancelled) {
      // A batch that had reported sent goes on waiting for outcomes after a cancel: no retry goes out.
      const ended = await endSoftBounce(message, 'cancelled', { from: ['SOFT_BOUNCED'], expect: { retry_at: message.retry_at } }, {});
      return ended ? 'skipped' : afterLostRace(message);
    }
    if (retrying && ctx.suppressed.has(message.recipient_email)) {
      // Suppressed since it soft-bounced: no retry; the soft bounce is its outcome.
      const ended = await endSoftBounce(
        message,
        'suppressed',
        { from: ['SOFT_BOUNCED'], expect: { retry_at: message.retry_at } },
        { reason: 'on_suppression_list', checked: 'before_soft_bounce_retry' },
      );
      return ended ? 'suppressed' : afterLostRace(message);
    }
    if (ctx.suppressed.has(message.recipient_email)) {
      const moved = await transition(message, 'SUPPRESSED', {
        from: SENDABLE_STATUSES.filter((s) => s !== 'SENDING'),
        orStaleSending: new Date(Date.now() - ctx.graceMs).toISOString(),
        metadata: { reason: 'on_suppression_list', checked: 'before_send' },
      });
      if (!moved) return afterLostRace(message);
      metrics?.suppressedAtSend.inc({ tenant: message.tenant_id });
      return 'suppressed';
    }
    if (message.status === 'SENDING' && message.attempt_token !== ctx.token) {
      // An earlier attempt died between marking and recording: SES may or may not have the
      // message. Its Send event (which marks it SENT) settles that within seconds; only when
      // none came during the grace period is it sent again.
      if (Date.now() - Date.parse(message.updated_at) < ctx.graceMs) return 'deferred';
      log.warn('resending a message left SENDING by an earlier attempt', { previous_attempt: message.attempt_token });
    }
    // Another attempt's SENDING is taken over only once it is stale, and only when this attempt
    // read it so: a message read in any other status is marked only from a status that says SES
    // never had it, so a mark that meets another attempt's SENDING (its page was older) fails
    // instead of taking over unknowingly. Two live attempts never share a message.
    const takeover = message.status === 'SENDING';
    const marked = retrying
      ? await markRetry(message, ctx.token)
      : await transition(message, 'SENDING', {
          from: ['CREATED', 'SCHEDULED', 'READY_TO_SEND'],
          ...(takeover ? { orStaleSending: new Date(Date.now() - ctx.graceMs).toISOString() } : {}),
          set: { attempt_token: ctx.token },
          metadata: takeover ? { attempt: ctx.token, took_over: message.attempt_token ?? null } : { attempt: ctx.token },
        });
    if (!marked) return afterLostRace(message);
    // A message taken over stays ambiguous whatever this attempt's own call does: SES may have it
    // from the earlier attempt. It is never handed back as READY_TO_SEND (the next attempt would
    // send it at once, and its late Send event would find it unsent and only flag it): it stays
    // SENDING under this attempt's mark, and the grace rule applies to it again.
    // A retry goes back to SOFT_BOUNCED, due at once: the next retry pass takes it again.
    const release = async (metadata: Record<string, unknown>) => {
      if (takeover) return;
      if (retrying) {
        await transition(message, 'SOFT_BOUNCED', {
          from: ['SENDING'],
          token: ctx.token,
          set: { retry_at: new Date().toISOString() },
          metadata,
        });
      } else await transition(message, 'READY_TO_SEND', { from: ['SENDING'], token: ctx.token, metadata });
    };
    // A retry that fails outright (render, sender, SES refusing the recipient) ends on the soft
    // bounce before it: SES took the first send, so the message is not FAILED.
    const fail = async (reason: string, code: string): Promise<Outcome> => {
      const failed =
        (message.soft_bounce_retries ?? 0) > 0
          ? await endSoftBounce(
              message,
              'retry_failed',
              { from: ['SENDING'], token: ctx.token },
              { code, reason },
              { failure_reason: reason },
            )
          : await transition(message, 'FAILED', {
              from: ['SENDING'],
              token: ctx.token,
              set: { failure_reason: reason },
              metadata: { code, reason },
            });
      if (failed && !((message.soft_bounce_retries ?? 0) > 0)) await deps.eventLog?.noteFailed(message, { code, reason });
      // Not ours any more (settled by an event, or taken over once our mark went stale): not counted here.
      return failed ? 'failed' : afterLostRace(message);
    };
    // The identity was deleted, or SES no longer has it verified, since the template was made:
    // nothing goes out as a sender the tenant does not hold, and the message fails like a bad render.
    if (!ctx.sender.ok) return fail(`${ctx.sender.field}: ${ctx.sender.reason}`, 'SENDER_NOT_AUTHORISED');
    const unsubscribeUrl = `${deps.settings.publicBaseUrl.replace(/\/$/, '')}/u/${createUnsubscribeToken(deps.settings.unsubscribeSecret, {
      tenantId: message.tenant_id,
      email: message.recipient_email,
      transactionId: message.transaction_id,
      messageId: message.message_id,
      topic: ctx.topic,
    })}`;
    let rendered;
    const endRender = metrics?.renderDuration.startTimer();
    try {
      rendered = await ctx.compiled.render(
        renderDataOf(message.placeholder_data, {
          email: message.recipient_email,
          message_id: message.message_id,
          transaction_id: message.transaction_id,
          unsubscribe_url: unsubscribeUrl,
        }),
      );
    } catch (error) {
      // A render fails the same way every time (its limits included): the message fails with
      // the code, and the attempt carries on with the next one.
      if (error instanceof TemplateRenderError) return fail(error.message, error.code);
      return fail(`Rendering failed: ${error instanceof Error ? error.message : String(error)}`, 'RENDER_FAILED');
    } finally {
      endRender?.();
    }
    if (ctx.stopped()) {
      // The attempt failed (or was given up on) while this message was being prepared: SES
      // never saw it from us, so hand it back untouched for the retry.
      await release({ released_by: ctx.token });
      return 'deferred';
    }
    let sesMessageId: string;
    // The send round: the soft-bounce retries made so far (0: the first send).
    const round = message.soft_bounce_retries ?? 0;
    const releaseBytes = await renderedBytes.acquire(heldBytes([rendered.subject, rendered.html, rendered.text]));
    const endSend = metrics?.sesSendDuration.startTimer();
    try {
      ({ messageId: sesMessageId } = await messenger.send(
        {
          from: ctx.from,
          to: message.recipient_email,
          replyTo: ctx.replyTo,
          subject: rendered.subject,
          html: rendered.html,
          text: rendered.text,
          // The ids ride in headers too: not every SES emulator keeps EmailTags.
          headers: {
            // RFC 8058 one-click unsubscribe, required by Gmail and Yahoo for bulk senders.
            'List-Unsubscribe': `<${unsubscribeUrl}>`,
            'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
            'X-Transaction-Id': message.transaction_id,
            'X-Batch-Id': message.batch_id,
            'X-Message-Id': message.message_id,
            // A soft-bounce retry's round: its events are told from the superseded attempts' by it.
            ...(round > 0 ? { 'X-Send-Round': String(round) } : {}),
          },
          tags: {
            transaction_id: message.transaction_id,
            batch_id: message.batch_id,
            message_id: message.message_id,
            ...(round > 0 ? { send_round: String(round) } : {}),
          },
          fromIdentityArn: ctx.sender.identityArn,
          configurationSet: ctx.sender.configurationSet,
        },
        ctx.signal,
      ));
      endSend?.({ outcome: 'accepted' });
      metrics?.sent.inc({ tenant: message.tenant_id });
    } catch (error) {
      if (metrics) {
        endSend?.({ outcome: error instanceof SendError && error.kind === 'recipient' ? 'rejected' : 'error' });
        metrics.sesErrors.inc({ kind: sesErrorKind(error) });
      }
      if (!(error instanceof SendError)) throw error;
      if (error.kind === 'recipient') return fail(error.message, error.code);
      if (error.kind === 'account') {
        // A retry SES refused outright is plainly unsent: back to SOFT_BOUNCED, where the batch's
        // recount ends it on its bounce when its retries stop (else it would stay SENDING).
        if (retrying) await release({ account_error: error.code });
        throw ApplicationFailure.create({ type: 'SesAccountError', message: `${error.code}: ${error.message}`, nonRetryable: true });
      }
      // SES refused this call outright: unless it was taken over, the message is plainly unsent,
      // so the retry need not wait out the grace period for it.
      if (error.kind === 'throttled') await release({ throttled: error.code });
      // Throttled or transient: this attempt fails, the retry policy backs off, nothing is dropped.
      throw ApplicationFailure.create({
        type: error.kind === 'throttled' ? 'SesThrottled' : 'SesTransient',
        message: `${error.code}: ${error.message}`,
      });
    } finally {
      releaseBytes();
    }
    const at = new Date().toISOString();
    const recorded = await transition(message, 'SENT', {
      from: ['SENDING'],
      token: ctx.token,
      set: { ses_message_id: sesMessageId, sent_time: at },
      metadata: { ses_message_id: sesMessageId },
      at,
    });
    if (recorded) return 'sent';
    // It moved on meanwhile. An SES event settled it: sent (and counted here, where it was sent).
    // Or another attempt took it over, which it can only once our mark went stale: that attempt
    // answers for it now, so it is deferred (the batch looks at it again), never taken as settled.
    const now = await messages.getMessage(message.transaction_id, message.batch_id, message.message_id);
    if (now && isSettled(now.status)) return 'sent';
    log.warn('message taken over before SENT was recorded', { ses_message_id: sesMessageId, now: now?.attempt_token });
    return 'deferred';
  }

  /**
   * The chunk's messages: the next `limit` of the batch or, for the proof pass, the next
   * `limit` unsettled ones, found in one read of up to a whole batch (a filtered read that
   * stopped at `limit` would need a call per chunk to find nothing).
   */
  async function readChunk(request: SendChunkInput): Promise<{ items: MessageRecord[]; cursor?: Cursor }> {
    // Under a lowered rate a chunk holds at most a second of mail at that rate (the worker's queue
    // rate is set to match): paced over its second, it ends long before its timeout.
    const pace = deps.settings.paceMessagesPerSecond;
    const input = pace ? { ...request, limit: Math.min(request.limit, Math.max(1, Math.floor(pace))) } : request;
    const until = input.until !== undefined ? { until: input.until } : {};
    if (!input.unsettledOnly && !input.softBounceRetry) {
      return messages.pageMessages(input.transactionId, input.batchId, input.limit, input.cursor, undefined, until);
    }
    const statuses = input.softBounceRetry ? RETRY_STATUSES : SENDABLE_STATUSES;
    const page = await messages.pageMessages(input.transactionId, input.batchId, MAX_BATCH_SIZE, input.cursor, statuses);
    if (page.items.length <= input.limit) return page;
    const items = page.items.slice(0, input.limit);
    const { PK, SK } = messages.messageItem(items.at(-1)!);
    return { items, cursor: { PK, SK } };
  }

  /**
   * A campaign's topic, from its record (the workflow input has none). Fixed at creation, so it is
   * read once per campaign and worker; the few campaigns a worker sends at once fit the cache.
   */
  const topics = new Map<string, string | undefined>();
  async function topicOf(tenantId: string, transactionId: string): Promise<string | undefined> {
    if (topics.has(transactionId)) return topics.get(transactionId);
    const topic = (await store.getTransaction(tenantId, transactionId))?.topic;
    if (topics.size >= TOPIC_CACHE_SIZE) topics.delete(topics.keys().next().value!);
    topics.set(transactionId, topic);
    return topic;
  }

  async function sendBatchChunk(input: SendChunkInput): Promise<SendChunkResult> {
    const ctx = Context.current();
    const info = ctx.info;
    const token = `${info.workflowExecution?.runId ?? 'standalone'}:${info.activityId}:${info.attempt}`;
    const [{ template, compiled, cancelled }, topic] = await Promise.all([
      loadTemplate(input.tenantId, input.templateId, input.transactionId),
      topicOf(input.tenantId, input.transactionId),
    ]);
    const sender = await checkSenders({ identities: deps.identities, verifier: deps.identityVerifier }, input.tenantId, template);
    const page = await readChunk(input);
    const now = new Date().toISOString();
    const sendable = page.items.filter((m) => SENDABLE_STATUSES.includes(m.status) || (input.softBounceRetry && retryDue(m, now)));
    // A held tenant sends nothing, whatever started this chunk (a send_at that arrived during the
    // hold, a chunk queued before it): its messages stay untouched, deferred, and the gate has
    // asked for the campaign's pause. The batch tries them again after the grace, once resumed.
    const held = sendable.length > 0 ? await deps.sendGate?.heldBack(input.tenantId, input.transactionId) : undefined;
    if (held !== undefined) {
      deps.log.warn('send chunk held back: the tenant is held by the reputation guard', {
        transaction_id: input.transactionId,
        batch_id: input.batchId,
        deferred: sendable.length,
        held_reason: held,
      });
      return {
        sent: 0,
        failed: 0,
        suppressed: 0,
        skipped: page.items.length - sendable.length,
        deferred: sendable.length,
        nextCursor: page.cursor,
      };
    }
    // Erased recipients too (by the hash of the address), and the campaign topic's suppressions, in the same requests.
    const suppressed = await suppressions.suppressedOrErasedAmong(
      input.tenantId,
      sendable.map((m) => m.recipient_email),
      topic,
    );
    const result: SendChunkResult = { sent: 0, failed: 0, suppressed: 0, skipped: 0, deferred: 0, nextCursor: page.cursor };
    // Live counters move every LIVE_COUNT_EVERY messages (one write each), so a chunk of a
    // thousand still shows progress; the batch's recount makes them exact in the end.
    const live = { sent: 0, failed: 0, suppressed: 0 };
    let unrecorded = 0;
    const recordLive = async () => {
      const delta = { ...live };
      live.sent = live.failed = live.suppressed = 0;
      unrecorded = 0;
      if (delta.sent + delta.failed + delta.suppressed > 0) await store.updateCounts(input.transactionId, delta);
    };
    // Temporal cancels an attempt it gave up on (heartbeat timed out, workflow gone): stop then.
    const signal = ctx.cancellationSignal;
    const pace = deps.settings.paceMessagesPerSecond;
    const chunkStarted = Date.now();
    const outcomes = await mapLimit(page.items, deps.settings.sendConcurrency, async (message, failed, index) => {
      // Under a rate lower than the chunk was sized for (SES MaxSendRate), the chunk's messages
      // are spread over its share of time instead of going out in one burst.
      if (pace) {
        const wait = chunkStarted + (index * 1000) / pace - Date.now();
        if (wait > 0) await sleepUnlessAborted(wait, signal);
      }
      const outcome = await sendOne(message, {
        stopped: () => failed() || signal.aborted,
        signal,
        token,
        compiled,
        from: template.from,
        replyTo: template.reply_to,
        sender,
        suppressed,
        topic,
        graceMs: Math.max(input.sendingGraceMs, deps.settings.minSendingGraceMs ?? 0),
        retry: input.softBounceRetry,
        campaignCancelled: cancelled,
      });
      ctx.heartbeat();
      // A retry's message was counted sent already: the batch's recount settles what it became.
      if (!input.softBounceRetry && (outcome === 'sent' || outcome === 'failed' || outcome === 'suppressed')) {
        live[outcome] += 1;
        if (++unrecorded >= LIVE_COUNT_EVERY) await recordLive();
      }
      return outcome;
    });
    for (const outcome of outcomes) result[outcome] += 1;
    await recordLive();
    return result;
  }

  /** The batch's chunk bounds (one keys-only read of the batch), for a batch that sends in lanes. */
  async function chunkBounds(input: ChunkBoundsInput): Promise<{ pk: string; bounds: string[] }> {
    return messages.chunkBounds(input.transactionId, input.batchId, input.chunkSize);
  }

  return { sendBatchChunk, chunkBounds };
}
