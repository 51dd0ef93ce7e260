// Callback URLs are checked when a campaign is created, so a tenant learns at once that a URL
// can never be delivered to: http(s), no credentials, and (unless the stack allows private
// networks) a host whose every address is globally reachable. Delivery checks again
// (activities/transaction.activities.ts): a name may resolve differently by then.
import { callbackUrlProblem, isForbiddenAddress } from '../src/domain/network-guard';
import { ForbiddenDestinationError, UnresolvableDestinationError, vetDestination, type CallbackPolicy } from '../src/adapters/safe-http';
import { DomainError } from '../src/domain/errors';

export { callbackPolicy } from '../src/adapters/safe-http';

// A request must not wait long on a tenant's DNS.
const RESOLVE_TIMEOUT_MS = 5_000;

/** Kept for callers that only need the address decision (see src/domain/network-guard). */
export const isPrivateAddress = isForbiddenAddress;

export async function checkCallbackUrl(raw: string, policy: CallbackPolicy): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DomainError('invalid', 'INVALID_CALLBACK_URL', 'callback_url is not a valid URL.');
  }
  const problem = callbackUrlProblem(url);
  if (problem) throw new DomainError('invalid', 'INVALID_CALLBACK_URL', problem);
  // Nothing to decide about the host's addresses; delivery still resolves it once and pins it.
  if (policy.allowPrivateNetworks) return;
  try {
    await vetDestination(url, policy, AbortSignal.timeout(RESOLVE_TIMEOUT_MS));
  } catch (error) {
    if (error instanceof ForbiddenDestinationError) {
      // Which range is not said: for a name, that would tell what our resolvers see inside.
      throw new DomainError(
        'unprocessable',
        'PRIVATE_CALLBACK_URL',
        'callback_url must not point to a private or special-purpose address.',
      );
    }
    if (error instanceof UnresolvableDestinationError) {
      throw new DomainError('unprocessable', 'UNRESOLVABLE_CALLBACK_URL', 'callback_url host does not resolve.');
    }
    throw error;
  }
}
