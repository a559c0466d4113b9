/**
 * Zoho OAuth: an access token from the refresh token (`POST {accounts}/oauth/v2/token?
 * refresh_token=…&client_id=…&client_secret=…&grant_type=refresh_token`), kept until shortly
 * before it expires. Concurrent callers share one refresh (single flight): Zoho's accounts
 * server throttles token requests, and 20 dashboards missing at once must not cost 20.
 */
import { ZohoAuthError, ZohoNetworkError } from './errors.js';

export interface OAuthSettings {
  accountsUrl: string;
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

export interface TokenSourceOptions {
  /** Refresh this long before the token expires (default 5 min). */
  refreshMarginMs?: number;
  /** Timeout of the token request (default 10 s). */
  timeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

interface Token {
  value: string;
  /** When to stop using it: expiry less the margin (at most half its lifetime). */
  refreshAt: number;
}

export class TokenSource {
  private token: Token | null = null;
  private refreshing: Promise<Token> | null = null;
  private refreshCount = 0;
  private readonly margin: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;

  constructor(
    private readonly settings: OAuthSettings,
    options: TokenSourceOptions = {},
  ) {
    this.margin = options.refreshMarginMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
  }

  /** Token requests sent so far (for stats). */
  get refreshes(): number {
    return this.refreshCount;
  }

  /**
   * A valid access token: the cached one, or a fresh one when there is none or it expires
   * within the margin. Throws ZohoAuthError (refused; not retryable) or ZohoNetworkError.
   */
  async accessToken(): Promise<string> {
    const token = this.token;
    if (token && token.refreshAt > this.now()) return token.value;
    return (await this.refresh()).value;
  }

  /**
   * Zoho refused `token` (401 AUTHENTICATION_FAILURE): forget it, so the next accessToken()
   * refreshes. A token already replaced by a newer one is left alone, so N callers that
   * failed with the same old token cause one refresh, not N.
   */
  invalidate(token: string): void {
    if (this.token?.value === token) this.token = null;
  }

  private refresh(): Promise<Token> {
    this.refreshing ??= this.requestToken().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async requestToken(): Promise<Token> {
    const url = new URL('/oauth/v2/token', this.settings.accountsUrl);
    url.search = new URLSearchParams({
      refresh_token: this.settings.refreshToken,
      client_id: this.settings.clientId,
      client_secret: this.settings.clientSecret,
      grant_type: 'refresh_token',
    }).toString();
    this.refreshCount++;
    let response: Response;
    try {
      response = await this.fetch(url, { method: 'POST', signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new ZohoNetworkError(`Zoho token refresh failed: ${(error as Error).message}`, error);
    }
    const text = await response.text().catch(() => '');
    const body = parseJson(text);
    if (response.status >= 500 || response.status === 429) {
      throw new ZohoAuthError(`Zoho token refresh failed: HTTP ${response.status}`, { code: 'TOKEN_REFRESH_FAILED', retryable: true });
    }
    const accessToken = typeof body?.access_token === 'string' ? body.access_token : undefined;
    if (!response.ok || !accessToken) {
      // Zoho answers a bad refresh token with 200 {"error": "invalid_code"}.
      const reason = typeof body?.error === 'string' ? body.error : `HTTP ${response.status}`;
      throw new ZohoAuthError(`Zoho refused the refresh token (${reason}): check ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN`);
    }
    const expiresIn = Number(body?.expires_in);
    const lifetimeMs = (Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600) * 1000;
    const token = { value: accessToken, refreshAt: this.now() + lifetimeMs - Math.min(this.margin, lifetimeMs / 2) };
    this.token = token;
    return token;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
