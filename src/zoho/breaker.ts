/**
 * The Zoho circuit breaker: opens after `failureThreshold` consecutive failed calls, refuses
 * calls while open (ZohoUnavailableError, nothing sent, no credit spent), lets one probe
 * through after `cooldownMs` (half-open), and closes on its success or reopens on its failure.
 *
 * opossum supplies the state machine (open → timer → half-open with a single probe → closed or
 * open again). Its own trip rule is an error percentage over a rolling window, which reopens a
 * half-recovered Zoho on a few unlucky calls and never trips on a slow trickle of failures
 * between successes; the rule asked for here is "N failures in a row", so that counter lives
 * here and calls `open()`; opossum's percentage rule is switched off (threshold 100 %).
 */
import CircuitBreaker from 'opossum';
import { ZohoUnavailableError, isZohoError, type ZohoError } from './errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failed calls that open the breaker (default 5). */
  failureThreshold?: number;
  /** How long it stays open before a half-open probe (default 30 s). */
  cooldownMs?: number;
  /**
   * Errors that say nothing about Zoho's health (a 404, a bad request, our own budget
   * refusal, the caller's abort): they neither count as failures nor reset the count.
   */
  isNeutral?: (error: unknown) => boolean;
  onStateChange?: (state: BreakerState) => void;
}

export interface BreakerStats {
  state: BreakerState;
  consecutiveFailures: number;
  openedAt: Date | null;
  /** Calls refused while open. */
  rejected: number;
}

type Work = () => Promise<unknown>;

export class ZohoBreaker {
  private readonly breaker: CircuitBreaker<[Work], unknown>;
  private readonly threshold: number;
  private consecutive = 0;
  private openedAt: Date | null = null;
  private rejectedCount = 0;

  constructor(options: BreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 5;
    const isNeutral = options.isNeutral ?? (() => false);
    this.breaker = new CircuitBreaker<[Work], unknown>((work) => work(), {
      timeout: false, // every request has its own AbortSignal.timeout
      resetTimeout: options.cooldownMs ?? 30_000,
      errorThresholdPercentage: 100, // never trips by percentage: see the file comment
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      rollingCountTimeout: 60_000,
      errorFilter: (error: unknown) => isNeutral(error),
    });
    this.breaker.on('success', () => {
      this.consecutive = 0;
    });
    this.breaker.on('failure', () => {
      this.consecutive++;
      if (this.consecutive >= this.threshold && this.breaker.closed) this.breaker.open();
    });
    this.breaker.on('reject', () => {
      this.rejectedCount++;
    });
    this.breaker.on('open', () => {
      this.openedAt = new Date();
      options.onStateChange?.('open');
    });
    this.breaker.on('halfOpen', () => options.onStateChange?.('half-open'));
    this.breaker.on('close', () => {
      this.consecutive = 0;
      this.openedAt = null;
      options.onStateChange?.('closed');
    });
  }

  get state(): BreakerState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  /** Would a call be let through now (closed, or half-open with no probe in flight)? */
  get accepting(): boolean {
    return this.breaker.closed || this.breaker.pendingClose;
  }

  stats(): BreakerStats {
    return { state: this.state, consecutiveFailures: this.consecutive, openedAt: this.openedAt, rejected: this.rejectedCount };
  }

  /** Runs `work` through the breaker; throws ZohoUnavailableError (nothing run) while open. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return (await this.breaker.fire(work)) as T;
    } catch (error) {
      if (isZohoError(error)) throw error as ZohoError;
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'EOPENBREAKER') throw new ZohoUnavailableError();
      if (code === 'ESHUTDOWN') throw new ZohoUnavailableError('the Zoho client is closed', 'CLIENT_CLOSED');
      throw error;
    }
  }

  /** Stops the breaker's timers; later calls fail with ZohoUnavailableError. */
  shutdown(): void {
    this.breaker.shutdown();
  }
}
