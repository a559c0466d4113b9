import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Never log credentials; emails are masked where they are logged on purpose. */
const redact: LoggerOptions['redact'] = {
  paths: [
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
  censor: '[redacted]',
};

/** The root logger: pretty in a TTY, JSON otherwise. */
export function createLogger(level: string): Logger {
  const pretty = process.stdout.isTTY && level !== 'silent';
  return pino({
    level,
    redact,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

/** `lina.haddad@college.example` → `l***@college.example`. */
export function maskEmail(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  const at = email.indexOf('@');
  return at <= 0 ? '***' : `${email[0]}***${email.slice(at)}`;
}
