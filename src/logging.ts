// Structured logs: one JSON object per line on stderr, with the transaction id when known and
// the trace id of the active span when tracing is on (src/tracing).
import { activeTraceId } from './tracing/trace-id';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  base: Record<string, unknown> = {},
  level: Level = (process.env.LOG_LEVEL as Level) || 'info',
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Logger {
  const emit = (at: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    const traceId = activeTraceId();
    const record: Record<string, unknown> = {
      time: new Date().toISOString(),
      level: at,
      msg,
      ...(traceId ? { trace_id: traceId } : {}),
      ...base,
      ...fields,
    };
    if (record.error instanceof Error) record.error = { name: record.error.name, message: record.error.message };
    write(redactAddresses(JSON.stringify(record)));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, level, write),
  };
}

// Anything shaped like an email address, wherever it hides in a line (an SES error message, an
// exception from a store): logs are read by people and systems that must not see recipients.
// The local part takes every dot-atom character (RFC 5322) and a percent-encoded @ counts too.
const ADDRESS = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/gi;

export function redactAddresses(line: string): string {
  return line.replace(ADDRESS, '[address]');
}
