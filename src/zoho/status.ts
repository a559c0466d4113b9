import type { ZohoClient } from './client.js';
import type { BreakerState } from './breaker.js';

/** The Zoho API as syncStats / metrics show it. */
export type ZohoStatus =
  | { configured: false }
  | {
      configured: true;
      breaker: BreakerState;
      /** Credits left in the rolling 24 h window, of `dailyCredits`. */
      remainingCredits: number;
      dailyCredits: number;
      /** The budget is shared across instances through Redis (false: counted per process). */
      sharedBudget: boolean;
      /** HTTP requests this instance sent, failed attempts, and retries, since it started. */
      requests: { sent: number; failed: number; retried: number };
      tokenRefreshes: number;
    };

/** The status of `client` (null when Zoho is not configured); one Redis read for the credits. */
export async function zohoStatus(client: ZohoClient | null): Promise<ZohoStatus> {
  if (!client) return { configured: false };
  const stats = await client.stats();
  return {
    configured: true,
    breaker: stats.breaker.state,
    remainingCredits: stats.credits.remaining,
    dailyCredits: stats.credits.limit,
    sharedBudget: stats.credits.shared,
    requests: stats.requests,
    tokenRefreshes: stats.tokenRefreshes,
  };
}
