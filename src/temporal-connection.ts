// Connection options for a Temporal dev server, a self-hosted cluster or Temporal Cloud.
import type { Config } from './config';

export function temporalConnectionOptions(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_API_KEY' | 'TEMPORAL_TLS'>) {
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is not set (and no local Temporal was started)');
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY, tls: true } : {}),
    ...(config.TEMPORAL_TLS && !config.TEMPORAL_API_KEY ? { tls: true } : {}),
  };
}
