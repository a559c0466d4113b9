import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Never log credentials; student emails are masked wherever a log line carries one. */
export const logRedaction: LoggerOptions['redact'] = {
  paths: [
    'email',
    '*.email',
    '*.*.email',
    'req.headers.authorization',
    'req.headers["x-signature-256"]',
    'headers.authorization',
    'authorization',
    'token',
    'secret',
    '*.token',
    '*.secret',
    '*.webhookSecret',
  ],
  censor: (value, path) => (path.at(-1) === 'email' ? maskEmail(typeof value === 'string' ? value : null) : '[redacted]'),
};

/** The root logger: pretty in a TTY, JSON otherwise. */
export function createLogger(level: string): Logger {
  const pretty = process.stdout.isTTY && level !== 'silent';
  return pino({
    level,
    redact: logRedaction,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

/** `lina.haddad@college.example` → `l***@college.example`. */
export function maskEmail(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  const at = email.indexOf('@');
  return at <= 0 ? '***' : `${email[0]}***${email.slice(at)}`;
}
