// Structured JSON logs (pino). Secrets never reach a log line: the redact paths cover every field
// name that could carry one, whatever object is logged.
import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_FIELDS = [
  'password', 'secret_key', 'secretKey', 'current_token_password', 'access_token', 'token', 'authorization',
  'adminKey', 'admin_key', 'key', 'secret', 'token_password',
];

/**
 * `toStderr`: log lines go to stderr, keeping stdout for a command's own output
 * (`signalgate start --json` prints exactly one JSON line there).
 */
export function createLogger(level: string, name = 'signalgate', toStderr = false): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  };
  return toStderr ? pino(options, pino.destination(2)) : pino(options);
}
