// Structured logs (pino): JSON lines for collectors, or pino-pretty's readable lines for a person
// at a terminal. Secrets never reach a log line in either format: the redact paths cover every
// field name that could carry one, whatever object is logged, and pino applies them before a line
// is serialised, so the pretty printer only ever sees the censored value.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

const SECRET_FIELDS = [
  'password', 'secret_key', 'secretKey', 'current_token_password', 'access_token', 'token', 'authorization',
  'adminKey', 'admin_key', 'key', 'secret', 'token_password',
];

/** How log lines look: `json` (one object a line, for collectors) or `pretty` (for people). */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** SIGNALGATE_LOG_FORMAT: a format, or `auto` to choose by where the lines go. */
export type LogFormatSetting = LogFormat | 'auto';

/**
 * `auto` means pretty when a person reads the lines at a terminal and JSON otherwise (a pipe, a
 * file, journald, `docker logs`), so a deployment keeps machine-readable logs without setting anything.
 */
export function logFormatFor(setting: LogFormatSetting, isTTY: boolean): LogFormat {
  return setting === 'auto' ? (isTTY ? 'pretty' : 'json') : setting;
}

/**
 * `toStderr`: JSON lines go to stderr, keeping stdout for a command's own output
 * (`signalgate start --json` prints exactly one JSON line there). Pretty lines always go to
 * stderr, and `auto` looks at stderr for that reason.
 */
export function createLogger(level: string, name = 'signalgate', toStderr = false, format: LogFormatSetting = 'json'): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), 'req.headers.authorization', 'req.headers.cookie'],
      censor: '[redacted]',
    },
  };
  const stderrIsTTY = process.stderr.isTTY === true;
  if (logFormatFor(format, stderrIsTTY) === 'pretty') {
    // In-process and synchronous (no worker-thread transport): each line is on fd 2 before the
    // log call returns. So no line is lost at process.exit, a worker never keeps the process
    // alive, and the `start` banner cannot be split by a log line: it is printed to stdout in one
    // synchronous run of JavaScript, after every line logged during start-up has been written.
    return pino(options, pretty({
      sync: true,
      destination: 2,
      colorize: pretty.isColorSupported && stderrIsTTY,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      singleLine: true,
    }));
  }
  return toStderr ? pino(options, pino.destination(2)) : pino(options);
}
