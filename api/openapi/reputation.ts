// The Reputation area of the OpenAPI document: the reputation guard's view of the tenant
// (api/routes/reputation.ts, src/reputation/guard.ts; issue 16, item 4).
import { dateTime, err, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Reputation';

export const reputationArea: ApiArea = {
  tags: [
    {
      name: TAG,
      description:
        'The reputation guard. Per tenant it counts sends (SES Send events), hard (Permanent) bounces and complaints over a rolling window ' +
        '(REPUTATION_WINDOW_SECONDS, 24 h). When, with at least REPUTATION_MIN_SENDS (500) sends in the window, the complaint rate reaches ' +
        "REPUTATION_COMPLAINT_RATE (0.1 %) or the hard bounce rate REPUTATION_BOUNCE_RATE (5 %), SES's review thresholds, the tenant is " +
        'held: each of its campaigns that is sending (READY_TO_SEND) is paused, with held_reason set, the PAUSED status webhook, an audit ' +
        'entry (principal system:reputation-guard, action campaigns.pause; the hold itself is reputation.hold) and the metric ' +
        'email_engine_reputation_holds_total. A campaign that starts sending during the hold is paused as well. While the tenant is ' +
        'held, POST /campaigns, POST /campaigns/{id}/resume, POST /campaigns/{id}/send-now and PATCH /campaigns/{id}/schedule answer ' +
        '409 TENANT_REPUTATION_HOLD. The operator may let a request through as an explicit decision: ?reputation_override=true with ' +
        'X-Operator-Token (audited with reputation_override: true; a campaign so created, resumed, sent now or rescheduled is not ' +
        'paused again during that hold). Only when the rates are judged again (at least REPUTATION_MIN_SENDS sends in the window) and ' +
        'are under the thresholds does a check lift the hold (audited, reputation.release); a window that merely empties keeps it. ' +
        'Paused campaigns stay paused until resumed. GET /tenant/reputation only reads. REPUTATION_GUARD=observe counts and reports without holding (the default on the local stack).',
    },
  ],
  schemas: {
    TenantReputation: {
      type: 'object',
      required: [
        'tenant_id',
        'mode',
        'window_seconds',
        'window',
        'sends',
        'hard_bounces',
        'complaints',
        'bounce_rate',
        'complaint_rate',
        'judged',
        'thresholds',
        'over_threshold',
        'held',
        'held_since',
        'held_reason',
        'released_at',
      ],
      properties: {
        tenant_id: { type: 'string' },
        mode: { enum: ['hold', 'observe', 'off'], description: 'REPUTATION_GUARD' },
        window_seconds: { type: 'integer' },
        window: {
          type: 'object',
          required: ['from', 'to'],
          description: 'The buckets summed (the oldest may start up to one bucket before the window)',
          properties: { from: dateTime, to: dateTime },
        },
        sends: { type: 'integer', minimum: 0 },
        hard_bounces: { type: 'integer', minimum: 0 },
        complaints: { type: 'integer', minimum: 0 },
        bounce_rate: { type: 'number', minimum: 0, description: 'hard_bounces / sends (0 without sends)' },
        complaint_rate: { type: 'number', minimum: 0, description: 'complaints / sends (0 without sends)' },
        judged: { type: 'boolean', description: 'The window holds at least thresholds.min_sends sends' },
        thresholds: {
          type: 'object',
          required: ['bounce_rate', 'complaint_rate', 'min_sends'],
          properties: { bounce_rate: { type: 'number' }, complaint_rate: { type: 'number' }, min_sends: { type: 'integer' } },
        },
        over_threshold: { enum: ['bounce_rate', 'complaint_rate', null], description: 'The rate at or over its threshold now, if judged' },
        held: { type: 'boolean' },
        held_since: { ...nullable('string'), format: 'date-time' },
        held_reason: { ...nullable('string'), description: 'The reason written on the campaigns paused (their held_reason)' },
        released_at: { ...nullable('string'), format: 'date-time', description: 'When the last hold was lifted' },
      },
    },
  },
  paths: {
    '/api/v1/tenant/reputation': {
      get: {
        ...meta('getTenantReputation', "Get the tenant's bounce and complaint rates and whether the reputation guard holds it", TAG),
        description:
          'Needs campaigns:read. A fresh look: it sums the window now, and may take or lift the hold as a check after an event would.',
        responses: v1({ '200': ok("The tenant's reputation", ref('TenantReputation')) }),
      },
    },
  },
};

const overrideParam = {
  name: 'reputation_override',
  in: 'query',
  required: false,
  description:
    "With X-Operator-Token: the operator's explicit decision to go ahead although the tenant is held by the reputation guard (audited)",
  schema: { enum: ['true'] },
};

/** A campaign create or resume operation, with the reputation guard's 409 and the operator's override. */
export function withReputationHold<T extends { parameters?: unknown[]; responses: Record<string, Record<string, unknown>> }>(op: T): T {
  const conflict = op.responses['409'] as { description?: string } | undefined;
  return {
    ...op,
    parameters: [...(op.parameters ?? []), overrideParam],
    responses: {
      ...op.responses,
      '409': err(
        `${conflict?.description ? `${conflict.description}; or t` : 'T'}he tenant is held by the reputation guard (TENANT_REPUTATION_HOLD; details: held_since, rates, thresholds; see GET /tenant/reputation)`,
      ),
    },
  };
}
