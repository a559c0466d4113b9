/**
 * The outbound Zoho CRM side of the gateway: the API client (OAuth, retries, concurrency cap,
 * shared credit budget, circuit breaker), the Notifications-API resolver, the cold-miss
 * fallback and the backfill. Nothing here is on the dashboard's read path except a cold miss.
 */
export { createZohoClient, criteria, ZohoClient, type CallOptions, type ListPage, type ZohoClientOptions, type ZohoClientStats, type ZohoRecord, type ZohoSettings, type ZohoUnavailableReason } from './client.js';
export { ZohoApiError, ZohoAuthError, ZohoBudgetExceededError, ZohoError, ZohoNetworkError, ZohoUnavailableError, isZohoError } from './errors.js';
export type { BreakerState, BreakerStats } from './breaker.js';
export type { CreditBudget } from './budget.js';
export { NotificationResolver, type NotificationResolverOptions, type ResolveSummary } from './notification-resolver.js';
export { fetchStudentFromZoho, type ColdMissDeps, type ColdMissOptions, type ColdMissReason, type ColdMissResult, type StudentLookup } from './cold-miss.js';
export { BACKFILL_ORDER, BackfillError, runBackfill, type BackfillOptions, type BackfillProgress, type BackfillSummary } from './backfill.js';
export { zohoStatus, type ZohoStatus } from './status.js';
