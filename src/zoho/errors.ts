/**
 * What a Zoho API call can fail with. Every error the client throws is a ZohoError; `retryable`
 * says whether the client's own retry loop treats it as transient (network, timeout, 5xx, 429).
 */
export class ZohoError extends Error {
  override name = 'ZohoError';
  /** A Zoho error code (`INVALID_DATA`, `AUTHENTICATION_FAILURE`…) or one of ours (`BUDGET_EXCEEDED`…). */
  readonly code: string;
  readonly retryable: boolean;
  constructor(message: string, options: { code: string; retryable?: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/** Zoho answered with an HTTP error: `{"code", "details", "message", "status": "error"}`. */
export class ZohoApiError extends ZohoError {
  override name = 'ZohoApiError';
  readonly status: number;
  readonly details: unknown;
  /** 429 / 503: how long Zoho asked us to wait (Retry-After), in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { status: number; code: string; details?: unknown; retryAfterMs?: number | undefined }) {
    super(message, { code: options.code, retryable: options.status === 429 || options.status >= 500 });
    this.status = options.status;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** No answer: connection refused or reset, DNS, or the per-request timeout. */
export class ZohoNetworkError extends ZohoError {
  override name = 'ZohoNetworkError';
  constructor(message: string, cause: unknown, code = 'NETWORK_ERROR') {
    super(message, { code, retryable: true, cause });
  }
}

/** The refresh token was refused (or the accounts server answered without an access token). */
export class ZohoAuthError extends ZohoError {
  override name = 'ZohoAuthError';
  constructor(message: string, options: { code?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'AUTHENTICATION_FAILURE', retryable: options.retryable ?? false, cause: options.cause });
  }
}

/** The shared credit budget (ZOHO_DAILY_CREDITS over a rolling 24 h) has no credit left: nothing was sent. */
export class ZohoBudgetExceededError extends ZohoError {
  override name = 'ZohoBudgetExceededError';
  readonly limit: number;
  constructor(limit: number, windowMs: number) {
    super(`Zoho API credit budget exhausted: ${limit} credits per ${Math.round(windowMs / 3_600_000)} h are used up; the call was not sent`, {
      code: 'BUDGET_EXCEEDED',
    });
    this.limit = limit;
  }
}

/** The circuit breaker is open after consecutive failures (or the client is closed): the call was refused without being sent. */
export class ZohoUnavailableError extends ZohoError {
  override name = 'ZohoUnavailableError';
  constructor(message = 'Zoho API circuit breaker is open after repeated failures; the call was not sent', code: 'BREAKER_OPEN' | 'CLIENT_CLOSED' = 'BREAKER_OPEN') {
    super(message, { code });
  }
}

export function isZohoError(error: unknown): error is ZohoError {
  return error instanceof ZohoError;
}
