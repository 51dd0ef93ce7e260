// Reads temporal-dev.yaml: the namespace, ports, persistence file, custom search attributes
// and dynamic config of the embedded Temporal dev server.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

const schema = z.object({
  namespace: z.string().min(1),
  ip: z.string().min(1),
  port: z.number().int(),
  ui_port: z.number().int(),
  db_filename: z.string().min(1),
  log_level: z.enum(['debug', 'info', 'warn', 'error']),
  search_attributes: z.record(z.string(), z.enum(['Keyword', 'Text', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'])),
  dynamic_config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});

export type TemporalDevConfig = z.infer<typeof schema>;

export const TEMPORAL_DEV_CONFIG_PATH = join(__dirname, '..', '..', 'temporal-dev.yaml');

export function readTemporalDevConfig(path = TEMPORAL_DEV_CONFIG_PATH): TemporalDevConfig {
  return schema.parse(parse(readFileSync(path, 'utf8')));
}

/** Flags for `temporal server start-dev` that the SDK's launcher has no option for. */
export function dynamicConfigArgs(config: TemporalDevConfig): string[] {
  return Object.entries(config.dynamic_config).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]);
}
