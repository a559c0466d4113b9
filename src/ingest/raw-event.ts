import { createHash } from 'node:crypto';
import { isProxy } from 'node:util/types';
import { LRUCache } from 'lru-cache';
import { jsonValueTooDeep } from './json-depth.js';
import { parseMoodleEvent } from './moodle-events.js';
import type { IncomingRecord, SourceName } from './record.js';
import { parseZohoRecord, type ZohoOperation } from './zoho-records.js';

/**
 * One event as received, in the form kept in the event log while it is parked, so a parked
 * event is exactly what the sender sent (its parse is kept in memory: parkedRecordOf).
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
  /** `recordOf(raw)`, when whoever built the event parsed it already (a Moodle envelope must, for its key). */
  parsed?: IncomingRecord;
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

/**
 * A parked event's record, by its event-log id: parsed once per process instead of on arrival,
 * again for its release's locks and again when released (≈ 0.04 ms each). Safe because a parked
 * record's payload never changes (only a Notifications-API id is replaced, by the fetched record,
 * and that is a different payload kind, never looked up here), records are never mutated, and an
 * entry stands for a committed row only (a payload read back, or rememberParked after the commit):
 * ids derive from idempotency keys, so an uncommitted attempt's id may later hold another payload.
 */
const parkedRecords = new LRUCache<string, IncomingRecord>({ max: 20_000 });

export function parkedRecordOf(syncEventId: string, raw: Exclude<RawEvent, { kind: 'zoho-fetch' }>): IncomingRecord {
  let record = parkedRecords.get(syncEventId);
  if (!record) parkedRecords.set(syncEventId, (record = recordOf(raw)));
  return record;
}

/** The record of a parked event this process parsed already (parkedRecordOf, rememberParked), else undefined. */
export function knownParkedRecord(syncEventId: string): IncomingRecord | undefined {
  return parkedRecords.get(syncEventId);
}

/** An event that parks: its record, already parsed, for parkedRecordOf. */
export function rememberParked(syncEventId: string, record: IncomingRecord): void {
  parkedRecords.set(syncEventId, record);
}

/** sha256 of the canonical JSON (sorted keys) of a value: stable across key order. */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * Deepest value hashed by the native JSON.stringify, whose replacer recursion overflows the
 * stack somewhere past ≈1,400 levels (varying with V8's tiers); deeper values (which ingestion
 * refuses before hashing, but a GraphQL variable may carry) take the iterative path below.
 */
const NATIVE_DEPTH = 256;

/** Sorted keys for plain objects, so the JSON is the same whatever the key order. */
function sortedKeys(_key: string, v: unknown): unknown {
  return v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v;
}

export function canonicalJson(value: unknown): string {
  const plain = plainCanonicalJson(value, 0);
  if (plain !== undefined) return plain;
  return jsonValueTooDeep(value, NATIVE_DEPTH) ? iterativeCanonicalJson(value) : (JSON.stringify(value, sortedKeys) as string);
}

/**
 * The same text for plain data — null, booleans, strings, numbers, arrays, Dates and objects of
 * Object.prototype or none without a toJSON — without the replacer, which copies every object
 * it meets into a sorted one (the record fingerprint spent 4.6 % of the gateway's main thread
 * in S3 on it, stop 19). It reads what the original reads, in its order (an array's length
 * once, an object's entries in their own order, then sorts them), so getters see the same.
 * Anything else anywhere in the value (undefined at the top, functions, bigints, boxed
 * primitives, class instances, Proxies, toJSON, a Date whose toISOString is not Date's, more
 * than NATIVE_DEPTH levels) gives undefined: the caller takes the general path.
 */
function plainCanonicalJson(value: unknown, depth: number): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      return undefined;
  }
  if (depth >= NATIVE_DEPTH || isProxy(value)) return undefined;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype || 'toJSON' in value) return undefined;
    const length = value.length;
    let out = '[';
    for (let i = 0; i < length; i++) {
      const item: unknown = value[i];
      // JSON writes null for these in an array (and omits them from an object).
      const json = item === undefined || typeof item === 'symbol' ? 'null' : plainCanonicalJson(item, depth + 1);
      if (json === undefined) return undefined;
      out += i ? `,${json}` : json;
    }
    return `${out}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto === Date.prototype) {
    const date = value as Date;
    if (date.toJSON !== Date.prototype.toJSON || date.toISOString !== Date.prototype.toISOString) return undefined;
    const iso = date.toJSON();
    return iso === null ? 'null' : JSON.stringify(iso);
  }
  if ((proto !== Object.prototype && proto !== null) || 'toJSON' in value) return undefined;
  // The replacer's order: Object.fromEntries of the sorted entries lists integer keys first, in
  // numeric order (where Object.entries has them already), then the names in sorted order.
  const entries = Object.entries(value);
  let indexes = 0;
  while (indexes < entries.length && isArrayIndex(entries[indexes]![0])) indexes++;
  const names = indexes ? entries.splice(indexes) : entries;
  names.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  let out = '{';
  let written = false;
  for (const list of indexes ? [entries, names] : [names]) {
    for (const [key, item] of list) {
      if (item === undefined || typeof item === 'symbol') continue;
      const json = plainCanonicalJson(item, depth + 1);
      if (json === undefined) return undefined;
      out += `${written ? ',' : ''}${quotedKey(key)}:${json}`;
      written = true;
    }
  }
  return `${out}}`;
}

/** Characters JSON.stringify escapes: controls, quote, backslash, and surrogates (a lone one is escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string, without the call for the common string that needs no escape. */
function quoted(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Object keys repeat (a module's field names): the JSON text of short ones, remembered. Bounded
 * in size as well as number — canonicalHash also keys the response cache by a request's
 * variables, whose names any client chooses — and emptied when full, so keys seen once (a
 * client's) cannot keep out those that recur.
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS = 10_000;
const QUOTED_KEY_LENGTH = 64;
function quotedKey(key: string): string {
  let json = quotedKeys.get(key);
  if (json === undefined) {
    json = quoted(key);
    if (key.length <= QUOTED_KEY_LENGTH) {
      if (quotedKeys.size >= QUOTED_KEYS) quotedKeys.clear();
      quotedKeys.set(key, json);
    }
  }
  return json;
}

/** An array index as a property key: the canonical decimal text of an integer below 2³² − 1. */
function isArrayIndex(key: string): boolean {
  if (!key.length || key.length > 10) return false;
  const c = key.charCodeAt(0);
  if (c < 0x30 || c > 0x39 || (c === 0x30 && key.length > 1)) return false;
  for (let i = 1; i < key.length; i++) {
    const d = key.charCodeAt(i);
    if (d < 0x30 || d > 0x39) return false;
  }
  return Number(key) < 4294967295;
}

/** What JSON.stringify(holder[key]) with the sortedKeys replacer serialises (ECMA-262 SerializeJSONProperty steps 1–4). */
function propertyValue(holder: object, key: string): unknown {
  let value: unknown = (holder as Record<string, unknown>)[key];
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = (toJSON as (key: string) => unknown).call(value, key);
  }
  value = sortedKeys(key, value);
  if (value instanceof Number) return Number(value);
  if (value instanceof String) return String(value);
  if (value instanceof Boolean || value instanceof BigInt) return value.valueOf();
  return value;
}

const NESTED = Symbol('nested');

/** A scalar's JSON, NESTED for an object or array, undefined for what JSON omits. */
function scalarJson(value: unknown): string | typeof NESTED | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    case 'object':
      return NESTED;
    default:
      return undefined;
  }
}

/** JSON.stringify(value, sortedKeys) with an explicit stack instead of recursion: the same text at any depth. */
function iterativeCanonicalJson(root: unknown): string {
  const out: string[] = [];
  const frames: { value: object; keys: string[]; next: number; array: boolean; written: number }[] = [];
  const open = new Set<object>();
  const enter = (value: object) => {
    if (open.has(value)) throw new TypeError('Converting circular structure to JSON');
    open.add(value);
    const array = Array.isArray(value);
    frames.push({ value, keys: array ? Array.from({ length: value.length }, (_, i) => String(i)) : Object.keys(value), next: 0, array, written: 0 });
    out.push(array ? '[' : '{');
  };
  const first = propertyValue({ '': root }, '');
  const json = scalarJson(first);
  if (json !== NESTED) return json as string;
  enter(first as object);
  while (frames.length) {
    const frame = frames[frames.length - 1]!;
    if (frame.next === frame.keys.length) {
      out.push(frame.array ? ']' : '}');
      open.delete(frame.value);
      frames.pop();
      continue;
    }
    const key = frame.keys[frame.next++]!;
    const value = propertyValue(frame.value, key);
    const json = scalarJson(value);
    if (json === undefined && !frame.array) continue;
    out.push(`${frame.written++ ? ',' : ''}${frame.array ? '' : `${JSON.stringify(key)}:`}`);
    if (json === NESTED) enter(value as object);
    else out.push(json ?? 'null');
  }
  return out.join('');
}
