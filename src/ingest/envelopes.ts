/**
 * The shapes senders post (FORMATS.md) → KeyedEvents with their idempotency keys:
 * Zoho record events (`notification_id`), bulk records (`module:id:Modified_Time`),
 * Notifications-API callbacks (`channel_id:server_time:id`), Moodle events (`event_id`);
 * a hash of the payload when the sender gives no id.
 */
import { describeValue, isRecord } from './fields.js';
import { jsonValueTooDeep, MAX_JSON_DEPTH, tooDeepMessage } from './json-depth.js';
import { parseMoodleEvent } from './moodle-events.js';
import { canonicalHash, type KeyedEvent } from './raw-event.js';
import { IngestInputError } from './record.js';
import { isZohoModule, parseZohoOperation, ZOHO_MODULES } from './zoho-records.js';

type Json = Record<string, unknown>;

/**
 * Longest id taken into an idempotency key (a Zoho id has 19 digits, a UUID 36 characters):
 * the key's unique index cannot hold an arbitrarily long value.
 */
const MAX_ID_LENGTH = 255;

/** An id as a string; `field` names it when it is too long (without one, a too-long id reads as no id). */
function idString(value: unknown, field?: string): string | undefined {
  const id = typeof value === 'string' && value.trim() ? value.trim() : typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
  if (id === undefined || id.length <= MAX_ID_LENGTH) return id;
  if (!field) return undefined;
  throw new IngestInputError(`${field}: expected an id of at most ${MAX_ID_LENGTH} characters, got ${id.length} characters`, field.split('.').pop());
}

/**
 * Refuses a value nested deeper than MAX_JSON_DEPTH (real events are < 10 levels deep). Runs
 * first in every builder below, so what follows (nulPath, canonicalHash, the parsers) only
 * meets shallow, acyclic values.
 */
function assertShallow(value: unknown, what: string): void {
  if (jsonValueTooDeep(value, MAX_JSON_DEPTH)) throw new IngestInputError(tooDeepMessage(what));
}

/**
 * The path of the first string (key or value) holding U+0000, which Postgres text and jsonb
 * cannot store. Depth-first in key order, with an explicit stack: no recursion to overflow.
 */
function nulPath(root: unknown, rootPath: string): string | undefined {
  // [value, its path, whether its key holds NUL]; children pushed in reverse so they pop in order.
  const stack: [unknown, string, boolean][] = [[root, rootPath, false]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, path, nulKey] = item;
    if (nulKey) return path;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path;
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const entries = Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i]!;
      const childPath = Array.isArray(value) ? `${path}[${key}]` : `${path}.${key.replaceAll('\u0000', '\\u0000')}`;
      stack.push([child, childPath, key.includes('\u0000')]);
    }
  }
  return undefined;
}

/** Refuses an event Postgres could not store (a NUL character anywhere), naming where it is. */
function assertStorable(value: unknown, path: string): void {
  // JSON escapes U+0000 (in keys and values alike) as \u0000: without that text there is none,
  // and the walk that names the path (a string per node) is not needed.
  if (!(JSON.stringify(value) ?? '').includes('\\u0000')) return;
  const found = nulPath(value, path);
  if (found) throw new IngestInputError(`${found}: expected text without NUL characters (\\u0000 cannot be stored)`, found.slice(found.lastIndexOf('.') + 1));
}

function field(record: Json, ...names: string[]): unknown {
  for (const name of names) if (record[name] !== undefined) return record[name];
  return undefined;
}

/** A Zoho record event (workflow webhook or the ingestZohoEvent mutation, snake or camel case). */
export function zohoRecordEvent(body: Json): KeyedEvent {
  assertShallow(body, 'Zoho event');
  const module = field(body, 'module');
  if (typeof module !== 'string' || !module) throw new IngestInputError('Zoho event.module: expected a module name such as "BTEC_Students"');
  const operationName = field(body, 'operation');
  const operation = parseZohoOperation(operationName);
  const data = field(body, 'data');
  const named = isZohoModule(module) ? module : 'Zoho event';
  const { data: _data, ...envelope } = body;
  assertStorable(envelope, 'Zoho event');
  assertStorable(data, named);
  const recordId = idString(field(body, 'record_id', 'recordId'), `${named}.record_id`) ?? (isRecord(data) ? idString(data.id, `${named}.id`) : undefined);
  const notificationId = idString(field(body, 'notification_id', 'notificationId'), 'Zoho event.notification_id');
  const timestamp = field(body, 'timestamp');
  return {
    idempotencyKey: `zoho:${notificationId ?? canonicalHash(body)}`,
    source: 'ZOHO',
    module,
    operation: String(operationName),
    recordId: recordId ?? null,
    raw: {
      kind: 'zoho-record',
      module,
      operation,
      operationName: String(operationName),
      ...(recordId ? { recordId } : {}),
      ...(typeof timestamp === 'string' ? { timestamp } : {}),
      data: data ?? null,
    },
  };
}

/** Bulk records of one module (`{"module", "data": [...]}` or ingestZohoRecords): each record its own event. */
export function zohoBulkEvents(module: string, records: readonly unknown[]): KeyedEvent[] {
  const named = isZohoModule(module) ? module : `Zoho ${module}`;
  records.forEach((data, index) => {
    assertShallow(data, records.length === 1 ? `Zoho ${module} record` : `Zoho ${module} records[${index}]`);
    assertStorable(data, records.length === 1 ? named : `${named}[${index}]`);
  });
  return records.map((data) => {
    const id = isRecord(data) ? idString(data.id) : undefined;
    const modified = isRecord(data) ? field(data, 'Modified_Time', 'Modified Time') : undefined;
    return {
      idempotencyKey: id ? `zoho:${module}:${id}:${typeof modified === 'string' ? modified : ''}` : `zoho:${canonicalHash({ module, data })}`,
      source: 'ZOHO' as const,
      module,
      operation: 'upsert',
      recordId: id ?? null,
      raw: { kind: 'zoho-record' as const, module, operation: 'upsert' as const, operationName: 'upsert', ...(id ? { recordId: id } : {}), data },
    };
  });
}

/** A Notifications-API callback: one event per id, parked until the record is fetched from Zoho. */
export function zohoNotificationEvents(body: Json): KeyedEvent[] {
  assertShallow(body, 'Zoho notification');
  const module = body.module;
  const ids = body.ids;
  const channelId = idString(body.channel_id, 'Zoho notification.channel_id');
  const serverTime = idString(body.server_time, 'Zoho notification.server_time');
  if (typeof module !== 'string' || !module) throw new IngestInputError('Zoho notification.module: expected a module name', 'module');
  assertStorable(body, 'Zoho notification');
  // The module becomes a Zoho API path when the ids are fetched: only the known modules.
  if (!isZohoModule(module)) {
    throw new IngestInputError(`Zoho notification.module: unknown Zoho module ${describeValue(module)}: expected one of ${ZOHO_MODULES.join(', ')}`, 'module');
  }
  if (!Array.isArray(ids) || !ids.length) throw new IngestInputError('Zoho notification.ids: expected a non-empty array of record ids');
  if (!channelId) throw new IngestInputError('Zoho notification.channel_id: expected the channel id');
  if (!serverTime) throw new IngestInputError('Zoho notification.server_time: expected the server time');
  const operation = parseZohoOperation(body.operation ?? 'update');
  return ids.map((value, index) => {
    const recordId = idString(value, `Zoho notification.ids[${index}]`);
    // The id becomes part of a Zoho API URL when fetched: Zoho record ids are digits only.
    if (!recordId || !/^\d+$/.test(recordId)) {
      throw new IngestInputError(`Zoho notification.ids[${index}]: expected a Zoho record id (digits), got ${describeValue(value)}`);
    }
    return {
      idempotencyKey: `zoho:${channelId}:${serverTime}:${recordId}`,
      source: 'ZOHO' as const,
      module,
      operation: String(body.operation ?? 'update'),
      recordId,
      raw: { kind: 'zoho-fetch' as const, module, recordId, operation, channelId, serverTime },
    };
  });
}

export function isZohoNotification(body: Json): boolean {
  return Array.isArray(body.ids) && body.channel_id !== undefined;
}

/** Any body posted to /webhooks/zoho. */
export function zohoWebhookEvents(body: unknown): KeyedEvent[] {
  if (!isRecord(body)) throw new IngestInputError('Zoho webhook: expected a JSON object');
  assertShallow(body, 'Zoho webhook');
  if (isZohoNotification(body)) return zohoNotificationEvents(body);
  if (Array.isArray(body.data)) {
    if (typeof body.module !== 'string' || !body.module) throw new IngestInputError('Zoho bulk records.module: expected a module name');
    return zohoBulkEvents(body.module, body.data);
  }
  if (body.module !== undefined && (body.operation !== undefined || body.notification_id !== undefined)) return [zohoRecordEvent(body)];
  throw new IngestInputError(
    'Zoho webhook: expected a record event {notification_id, module, operation, record_id, data}, bulk records {module, data: [...]}, or a Notifications-API callback {module, ids, channel_id, token}',
  );
}

/** A Moodle event (plugin shape, the ingestMoodleEvent input, or a standard event envelope). */
export function moodleEvent(body: unknown): KeyedEvent {
  if (!isRecord(body)) throw new IngestInputError('Moodle event: expected a JSON object');
  assertShallow(body, 'Moodle event');
  const parsed = parseMoodleEvent(body);
  if (parsed.eventId !== null) idString(parsed.eventId, `${parsed.event}.event_id`);
  const { data, ...envelope } = body;
  assertStorable(envelope, 'Moodle event');
  assertStorable(data, parsed.event);
  return {
    idempotencyKey: `moodle:${parsed.eventId ?? canonicalHash(body)}`,
    source: 'MOODLE',
    module: parsed.event,
    operation: parsed.record.operation === 'delete' ? 'delete' : parsed.event,
    recordId: Object.values(parsed.record.keys)[0] ?? null,
    raw: { kind: 'moodle', body },
    parsed: parsed.record,
  };
}
