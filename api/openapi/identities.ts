// The Identities area of the OpenAPI document: the tenant's sender identities (api/routes/identities.ts).
import { z } from 'zod';
import { putIdentityBody } from '../routes/identities';
import { cursorParam, dateTime, err, json, limitParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Identities';

const identityParam = {
  name: 'identity',
  in: 'path',
  required: true,
  description: 'A domain (example.com) or an email address (news@example.com)',
  schema: { type: 'string', minLength: 1, maxLength: 254 },
};

const invalidIdentity =
  'Not a domain name or an email address, or a public suffix (co.uk) or an address at one (INVALID_IDENTITY), or a malformed path';

export const identitiesArea: ApiArea = {
  tags: [
    {
      name: TAG,
      description:
        "The domains and addresses the tenant's templates may send from. Each registrable domain (by the public suffix list) belongs " +
        'to one tenant, with every identity under it: its subdomains and the addresses at them. ' +
        'A domain identity covers the addresses at exactly that domain (not its subdomains), an address identity that address only. ' +
        'A claim none of whose identities is verified IDENTITY_PENDING_TTL_HOURS (72) after the first passes to the next tenant that ' +
        'claims under the domain; a tenant holds at most IDENTITY_MAX_PENDING_PER_TENANT (10) unverified identities and ' +
        'IDENTITY_MAX_PER_TENANT (100) in all.',
    },
  ],
  schemas: {
    DnsRecord: {
      type: 'object',
      required: ['purpose', 'type', 'name', 'value'],
      properties: {
        purpose: { enum: ['DKIM', 'MAIL_FROM', 'SPF', 'DMARC'] },
        type: { enum: ['CNAME', 'MX', 'TXT'] },
        name: { type: 'string' },
        value: { type: 'string' },
      },
    },
    Identity: {
      type: 'object',
      required: [
        'identity',
        'type',
        'status',
        'verified_for_sending',
        'verification_status',
        'dkim',
        'mail_from_domain',
        'configuration_set',
        'dns_records',
        'created_at',
        'updated_at',
      ],
      properties: {
        identity: { type: 'string' },
        type: { enum: ['DOMAIN', 'EMAIL_ADDRESS'] },
        status: { enum: ['VERIFIED', 'PENDING', 'FAILED'], description: 'VERIFIED: templates may send from it' },
        verified_for_sending: { type: 'boolean' },
        verification_status: {
          type: 'string',
          description: "SES's VerificationStatus (PENDING, SUCCESS, FAILED, TEMPORARY_FAILURE, NOT_STARTED), or NOT_FOUND",
        },
        dkim: {
          type: 'object',
          required: ['status', 'tokens'],
          properties: { status: nullable('string'), tokens: { type: 'array', items: { type: 'string' } } },
        },
        mail_from_domain: nullable('string'),
        configuration_set: {
          ...nullable('string'),
          description:
            "The configuration set this identity's mail goes out with (the engine's or the tenant's); null: the tenant's, else the engine's",
        },
        dns_records: {
          type: 'array',
          items: ref('DnsRecord'),
          description:
            'For a domain: the three DKIM CNAMEs, the MX and SPF of the MAIL FROM domain, and a DMARC policy to start from. ' +
            'An address is verified by the link SES mails to it: none.',
        },
        created_at: dateTime,
        updated_at: dateTime,
      },
    },
    IdentityPage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('Identity') }, next_cursor: nullable('string') },
    },
  },
  paths: {
    '/api/v1/identities': {
      get: {
        ...meta('listIdentities', 'List the sender identities', TAG),
        parameters: [limitParam, cursorParam],
        responses: v1({
          '200': ok('A page of identities', ref('IdentityPage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/identities/{identity}': {
      get: {
        ...meta('getIdentity', 'Get a sender identity: its verification state and the DNS records to publish', TAG),
        description: "SES's state as read at most a minute before (SES is asked once a minute per identity at most).",
        parameters: [identityParam],
        responses: v1({ '200': ok('The identity', ref('Identity')), '400': err(invalidIdentity) }, { path: true }),
      },
      put: {
        ...meta('putIdentity', 'Claim a sender identity and start its verification', TAG),
        parameters: [identityParam],
        requestBody: { required: false, ...json(z.toJSONSchema(putIdentityBody, { io: 'input' })) },
        responses: v1(
          {
            '200': ok("Already this tenant's: as it is now", ref('Identity')),
            '201': ok('Claimed', ref('Identity')),
            '400': err(`${invalidIdentity}, or an invalid body`),
            '409': err(
              'Its registrable domain is held by another tenant (the domain itself, a parent or a subdomain of it, or an address under it), ' +
                'or SES has it outside the engine (IDENTITY_TAKEN)',
            ),
            '422': err(
              "configuration_set is neither the engine's nor the one assigned to the tenant (CONFIGURATION_SET_NOT_ALLOWED; details: field, allowed), " +
                'or the tenant is at its limit of unverified identities or of identities (IDENTITY_LIMIT_REACHED; details: limit (pending or total), max)',
            ),
          },
          { body: true, path: true },
        ),
      },
      delete: {
        ...meta('deleteIdentity', 'Give up a sender identity (templates using it can no longer send)', TAG),
        parameters: [identityParam],
        responses: v1({ '204': { description: 'Removed' }, '400': err(invalidIdentity) }, { path: true }),
      },
    },
  },
};
