// The SES side of sender identities behind one small interface: creating an identity (which
// starts its verification), reading its state (now, or as remembered for a minute), deleting
// it, its ARN, and the engine's configuration set. Against AWS it is SES v2 (CreateEmailIdentity,
// GetEmailIdentity, DeleteEmailIdentity). The local SES emulator (aws-ses-v2-local) has no
// identities and cannot see DNS: the local verifier says every identity is verified and makes
// deterministic DKIM tokens, for the local stack and tests only.
import { createHash } from 'node:crypto';
import {
  AlreadyExistsException,
  CreateEmailIdentityCommand,
  DeleteEmailIdentityCommand,
  GetEmailIdentityCommand,
  NotFoundException,
  type GetEmailIdentityResponse,
  type SESv2Client,
} from '@aws-sdk/client-sesv2';
import type { Config } from '../config';
import { identityArn } from '../domain/sender-identity';

export interface IdentityState {
  verifiedForSending: boolean;
  /** SES's VerificationStatus, or NOT_FOUND when SES has no such identity. */
  verificationStatus: string;
  dkimStatus?: string;
  dkimTokens: string[];
  dkimSigningZone?: string;
  mailFromDomain?: string;
}

export interface IdentityVerifier {
  /** Creates the identity in SES (starting its verification); `existed` when SES had it before this call. */
  create(identity: string): Promise<{ existed: boolean; state: IdentityState }>;
  /** SES's state now (what a claim's re-check goes by). */
  read(identity: string): Promise<IdentityState>;
  /**
   * As `read`, remembered for a short while: what the send path checks before each chunk, and
   * what the identity API shows, so no tenant's polling spends the account's SES request rate.
   */
  sendingState(identity: string): Promise<IdentityState>;
  /** Deletes the identity from SES (nothing if SES has none). */
  remove(identity: string): Promise<void>;
  /** The identity's ARN, named on each send (FromEmailAddressIdentityArn). */
  arn(identity: string): string;
  /**
   * The engine's configuration set (SES_CONFIGURATION_SET), which an identity may name besides
   * the tenant's own; unset, an identity's set is honoured only when it is the tenant's.
   */
  readonly defaultConfigurationSet?: string;
}

/** How long the send path trusts an identity's SES state before asking again. */
export const SENDING_STATE_TTL_MS = 60_000;
const MAX_CACHED = 10_000;

export function stateOf(response: GetEmailIdentityResponse): IdentityState {
  return {
    verifiedForSending: response.VerifiedForSendingStatus === true,
    verificationStatus: response.VerificationStatus ?? 'NOT_STARTED',
    dkimStatus: response.DkimAttributes?.Status,
    dkimTokens: response.DkimAttributes?.Tokens ?? [],
    dkimSigningZone: response.DkimAttributes?.SigningHostedZone,
    mailFromDomain: response.MailFromAttributes?.MailFromDomain,
  };
}

const NOT_FOUND: IdentityState = { verifiedForSending: false, verificationStatus: 'NOT_FOUND', dkimTokens: [] };

export class AwsIdentityVerifier implements IdentityVerifier {
  private readonly cache = new Map<string, { until: number; state: Promise<IdentityState> }>();
  readonly ttlMs: number;
  readonly defaultConfigurationSet?: string;

  constructor(
    readonly ses: Pick<SESv2Client, 'send'>,
    readonly region: string,
    readonly accountId: string,
    opts: { ttlMs?: number; defaultConfigurationSet?: string } = {},
  ) {
    this.ttlMs = opts.ttlMs ?? SENDING_STATE_TTL_MS;
    this.defaultConfigurationSet = opts.defaultConfigurationSet;
  }

  async create(identity: string): Promise<{ existed: boolean; state: IdentityState }> {
    let existed = false;
    try {
      await this.ses.send(new CreateEmailIdentityCommand({ EmailIdentity: identity }));
    } catch (error) {
      if (!(error instanceof AlreadyExistsException)) throw error;
      existed = true;
    }
    return { existed, state: await this.read(identity) };
  }

  /** SES's state now; what this process's sends and identity reads go by from then on. */
  read(identity: string): Promise<IdentityState> {
    const state = this.fetch(identity);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(identity, { until: Date.now() + this.ttlMs, state });
    // A failed read is not remembered: the next chunk asks again.
    state.catch(() => {
      if (this.cache.get(identity)?.state === state) this.cache.delete(identity);
    });
    return state;
  }

  sendingState(identity: string): Promise<IdentityState> {
    const cached = this.cache.get(identity);
    return cached && cached.until > Date.now() ? cached.state : this.read(identity);
  }

  private async fetch(identity: string): Promise<IdentityState> {
    try {
      return stateOf(await this.ses.send(new GetEmailIdentityCommand({ EmailIdentity: identity })));
    } catch (error) {
      if (error instanceof NotFoundException) return NOT_FOUND;
      throw error;
    }
  }

  async remove(identity: string): Promise<void> {
    this.cache.delete(identity);
    try {
      await this.ses.send(new DeleteEmailIdentityCommand({ EmailIdentity: identity }));
    } catch (error) {
      if (!(error instanceof NotFoundException)) throw error;
    }
  }

  arn(identity: string): string {
    return identityArn(this.region, this.accountId, identity);
  }
}

/** The local account id, as in the local SNS topic ARN. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Local stack and tests only: every identity verified, DKIM tokens derived from its name. */
export class LocalIdentityVerifier implements IdentityVerifier {
  constructor(
    readonly region = 'us-east-1',
    readonly defaultConfigurationSet?: string,
  ) {}

  async create(identity: string) {
    return { existed: false, state: await this.read(identity) };
  }

  async read(identity: string): Promise<IdentityState> {
    const isDomain = !identity.includes('@');
    return {
      verifiedForSending: true,
      verificationStatus: 'SUCCESS',
      dkimStatus: isDomain ? 'SUCCESS' : 'NOT_STARTED',
      dkimTokens: isDomain ? localDkimTokens(identity) : [],
      dkimSigningZone: isDomain ? 'dkim.amazonses.com' : undefined,
    };
  }

  sendingState(identity: string) {
    return this.read(identity);
  }

  async remove() {}

  arn(identity: string) {
    return identityArn(this.region, LOCAL_ACCOUNT_ID, identity);
  }
}

/** Three tokens shaped like SES's (32 lowercase characters), the same for a domain every time. */
export const localDkimTokens = (domain: string) =>
  [1, 2, 3].map((n) => createHash('sha256').update(`local-dkim:${n}:${domain}`).digest('hex').slice(0, 32));

/** SES itself against AWS (SES_IDENTITY_ACCOUNT_ID names the account for the ARNs); the local verifier otherwise. */
export function createIdentityVerifier(
  config: Pick<Config, 'AWS_ENDPOINT_MODE' | 'AWS_REGION' | 'SES_IDENTITY_ACCOUNT_ID' | 'SES_CONFIGURATION_SET'>,
  ses: SESv2Client,
): IdentityVerifier {
  if (config.AWS_ENDPOINT_MODE !== 'aws') return new LocalIdentityVerifier(config.AWS_REGION, config.SES_CONFIGURATION_SET);
  if (!config.SES_IDENTITY_ACCOUNT_ID) throw new Error('SES_IDENTITY_ACCOUNT_ID is required with AWS_ENDPOINT_MODE=aws');
  return new AwsIdentityVerifier(ses, config.AWS_REGION, config.SES_IDENTITY_ACCOUNT_ID, {
    defaultConfigurationSet: config.SES_CONFIGURATION_SET,
  });
}
