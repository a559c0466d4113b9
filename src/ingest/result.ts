/**
 * What ingesting an event answers (IngestResult), shared by the pipeline (pipeline.ts) and the
 * batch transaction (batch.ts).
 */
import type { IngestStatus } from '../generated/prisma/enums.js';
import type { KeyedEvent } from './raw-event.js';
import type { SourceName } from './record.js';

export interface IngestResult {
  eventId: string | null;
  status: IngestStatus;
  source: SourceName;
  module: string;
  operation: string | null;
  entityType: string | null;
  entityId: string | null;
  studentId: string | null;
  message: string | null;
  /** PARKED: what it waits for (`Student:zohoId:…`, or `zoho-fetch`). */
  awaiting: string | null;
}

/** Awaiting value of a Notifications-API id whose record must be fetched from Zoho first. */
export const AWAITING_ZOHO_FETCH = 'zoho-fetch';

/** Parked events released by a release, and so on: at most this many levels in one transaction. */
export const MAX_PARKED_DEPTH = 32;

export function resultOf(
  event: Pick<KeyedEvent, 'source' | 'module' | 'operation'>,
  eventId: string | null,
  outcome: { status: IngestStatus; message: string | null; entityType?: string | null; entityId?: string | null; studentId?: string | null; awaiting?: string },
): IngestResult {
  return {
    eventId,
    status: outcome.status,
    source: event.source,
    module: event.module,
    operation: event.operation,
    entityType: outcome.entityType ?? null,
    entityId: outcome.entityId ?? null,
    studentId: outcome.studentId ?? null,
    message: outcome.message,
    awaiting: outcome.awaiting ?? null,
  };
}
