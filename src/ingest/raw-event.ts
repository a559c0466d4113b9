import { createHash } from 'node:crypto';
import { parseMoodleEvent } from './moodle-events.js';
import type { IncomingRecord, SourceName } from './record.js';
import { parseZohoRecord, type ZohoOperation } from './zoho-records.js';

/**
 * One event as received, in the form kept in the event log while it is parked: re-parsed
 * each time it is applied, so a parked event is exactly what the sender sent.
 */
export type RawEvent =
  | {
      kind: 'zoho-record';
      module: string;
      operation: ZohoOperation;
      /** as the sender wrote it (insert, edit, …), for the log */
      operationName: string;
      recordId?: string;
      timestamp?: string;
      data: unknown;
    }
  | { kind: 'moodle'; body: unknown }
  /** A Notifications-API callback id: its record must be fetched from Zoho first. */
  | { kind: 'zoho-fetch'; module: string; recordId: string; operation: ZohoOperation; channelId: string; serverTime: string };

/** An event with its idempotency key (unique per tenant in the event log). */
export interface KeyedEvent {
  idempotencyKey: string;
  source: SourceName;
  module: string;
  operation: string | null;
  recordId: string | null;
  raw: RawEvent;
}

/** Parses the raw event into the record to store; throws IngestInputError on bad input. */
export function recordOf(raw: Exclude<RawEvent, { kind: 'zoho-fetch' }>): IncomingRecord {
  if (raw.kind === 'moodle') return parseMoodleEvent(raw.body).record;
  const timestamp = raw.timestamp ? new Date(raw.timestamp) : undefined;
  return parseZohoRecord(raw.module, raw.data, {
    operation: raw.operation,
    ...(raw.recordId ? { recordId: raw.recordId } : {}),
    ...(timestamp && !Number.isNaN(timestamp.getTime()) ? { timestamp } : {}),
  });
}

/** sha256 of the canonical JSON (sorted keys) of a value: stable across key order. */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
