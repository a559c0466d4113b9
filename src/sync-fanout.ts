import type { ResponseCache } from './cache/response-cache.js';
import type { Ingestor, SyncOutcome } from './ingest/pipeline.js';
import type { Logger } from './logger.js';
import type { PubSub } from './pubsub.js';
import { sectionsOf, type DashboardSection } from './sections.js';

/** Logged outcomes admins see live; UNCHANGED and DUPLICATE publish nothing, REJECTED is not logged. */
const PUBLISHED = new Set(['CREATED', 'UPDATED', 'DELETED', 'STALE', 'PARKED']);
const CHANGING = new Set(['CREATED', 'UPDATED', 'DELETED']);

/**
 * After every committed ingest: invalidate the cache, then publish (syncEvents for admins,
 * studentUpdated for dashboards, one message per student with the union of changed sections).
 * Runs before the sender is answered, so a read that follows the reply sees the change.
 */
export function connectFanout(ingestor: Ingestor, deps: { cache: ResponseCache | null; pubsub: PubSub; log: Logger }) {
  return ingestor.onOutcomes(async (outcomes) => {
    await deps.cache?.invalidate(outcomes);
    try {
      publish(outcomes, deps.pubsub);
    } catch (error) {
      deps.log.error({ err: error }, 'publishing sync events failed');
    }
  });
}

function publish(outcomes: SyncOutcome[], pubsub: PubSub) {
  const students = new Map<string, { tenantId: string; sections: Set<DashboardSection>; at: Date }>();
  for (const o of outcomes) {
    if (o.eventId && PUBLISHED.has(o.status)) {
      pubsub.publish('sync', o.tenantId, { eventId: o.eventId, tenantId: o.tenantId, module: o.module, status: o.status });
    }
    if (!o.studentId || !CHANGING.has(o.status) || (o.entityType === 'Student' && o.status === 'DELETED')) continue;
    const entry = students.get(o.studentId) ?? { tenantId: o.tenantId, sections: new Set<DashboardSection>(), at: o.at };
    for (const section of sectionsOf(o.entityType)) entry.sections.add(section);
    students.set(o.studentId, entry);
  }
  for (const [studentId, { tenantId, sections, at }] of students) {
    const message = { studentId, sections: [...sections], at: at.toISOString() };
    pubsub.publish('student', `${tenantId}:${studentId}`, message);
    pubsub.publish('students', tenantId, message);
  }
}
