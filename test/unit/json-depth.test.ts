import { describe, expect, it } from 'vitest';
import { moodleEvent, zohoBulkEvents, zohoWebhookEvents } from '../../src/ingest/envelopes.js';
import { jsonTextTooDeep, jsonValueTooDeep, MAX_JSON_DEPTH } from '../../src/ingest/json-depth.js';
import { canonicalJson } from '../../src/ingest/raw-event.js';
import { IngestInputError } from '../../src/ingest/record.js';

/** A value `levels` levels deep, alternating objects (with varied keys) and arrays. */
function deepValue(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = i % 2 ? [1, value, null] : { z: i, '10': 'ten', '2': value, b: undefined, f: () => 1 };
  return value;
}

/** The original implementation of canonicalJson (JSON.stringify with a key-sorting replacer). */
const nativeCanonical = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

describe('jsonTextTooDeep', () => {
  it('counts { and [ outside strings, honouring escapes', () => {
    expect(jsonTextTooDeep('[[1]]', 2)).toBe(false);
    expect(jsonTextTooDeep('[[[1]]]', 2)).toBe(true);
    expect(jsonTextTooDeep('{"a":{"b":[]}}', 3)).toBe(false);
    expect(jsonTextTooDeep('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(jsonTextTooDeep('["[[[[", "\\"[[[[", "\\\\", [1]]', 2)).toBe(false);
    expect(jsonTextTooDeep('["\\\\", [[1]]]', 2)).toBe(true);
    expect(jsonTextTooDeep(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBe(false);
    expect(jsonTextTooDeep(`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`)).toBe(true);
    expect(jsonTextTooDeep('['.repeat(1_000_000))).toBe(true);
  });
});

describe('jsonValueTooDeep', () => {
  it('measures objects and arrays without recursion, and ends on a cycle', () => {
    expect(jsonValueTooDeep('x', 0)).toBe(false);
    expect(jsonValueTooDeep({}, 0)).toBe(true);
    expect(jsonValueTooDeep({ a: [1] }, 2)).toBe(false);
    expect(jsonValueTooDeep({ a: [1, [2]] }, 2)).toBe(true);
    expect(jsonValueTooDeep(deepValue(100_000))).toBe(true);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonValueTooDeep(cyclic)).toBe(true);
  });
});

describe('canonicalJson', () => {
  it('is the text of the original JSON.stringify implementation, below and above its native depth', () => {
    for (const levels of [0, 1, 5, 64, 255, 256, 257, 600]) {
      expect(canonicalJson(deepValue(levels)), `${levels} levels`).toBe(nativeCanonical(deepValue(levels)));
    }
    const odd = { d: new Date(0), n: [NaN, -0, Infinity, 1e21], s: 'é"\\\u0000\ud800', u: undefined, a: [undefined, () => 1, Symbol('s')], nested: { toJSON: (key: string) => ({ key }) } };
    expect(canonicalJson([deepValue(300), odd])).toBe(nativeCanonical([deepValue(300), odd]));
    expect(canonicalJson(undefined)).toBe(nativeCanonical(undefined));
  });

  it('never overflows the stack, and refuses a cycle like JSON.stringify', () => {
    const text = canonicalJson(deepValue(50_001));
    // Integer keys first, in numeric order (as Object.fromEntries in the native replacer orders them), then sorted names.
    expect(text.startsWith('{"2":[1,{"2":[1,')).toBe(true);
    expect(text.includes('{"2":"leaf","10":"ten","z":0},null],"10":"ten","z":2}')).toBe(true);
    expect(text.endsWith('},null],"10":"ten","z":50000}')).toBe(true);
    const cyclic: unknown[] = [];
    cyclic.push([cyclic]);
    expect(() => canonicalJson(cyclic)).toThrow(TypeError);
  });
});

describe('envelopes', () => {
  it('refuse an already-parsed value nested too deep with an IngestInputError naming the limit', () => {
    const body = { notification_id: 'n', module: 'BTEC_Students', operation: 'update', record_id: '1', data: { id: '1', x: deepValue(100_000) } };
    expect(() => zohoWebhookEvents(body)).toThrow(IngestInputError);
    expect(() => zohoWebhookEvents(body)).toThrow(`Zoho webhook: JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    expect(() => zohoBulkEvents('BTEC_Units', [{ id: '1' }, deepValue(100_000)])).toThrow('Zoho BTEC_Units records[1]: JSON nested deeper');
    expect(() => zohoBulkEvents('BTEC_Units', [deepValue(65)])).toThrow('Zoho BTEC_Units record: JSON nested deeper');
    expect(zohoBulkEvents('BTEC_Units', [deepValue(64)])).toHaveLength(1);
    expect(() => moodleEvent({ event: 'user_created', data: { x: deepValue(64) } })).toThrow('Moodle event: JSON nested deeper');
  });

  it('name the first NUL character in key order, at any depth below the limit', () => {
    const nul = (data: unknown) => () => zohoWebhookEvents({ notification_id: 'n', module: 'BTEC_Students', operation: 'update', record_id: '1', data });
    expect(nul({ id: '1', a: [{ b: 'ok' }, { 'c\u0000d': 1, e: 'x\u0000' }], f: 'y\u0000' })).toThrow('BTEC_Students.a[1].c\\u0000d: expected text without NUL');
    expect(nul({ id: '1', a: [{ b: 'ok' }, { c: 1, e: ['x\u0000'] }], f: 'y\u0000' })).toThrow('BTEC_Students.a[1].e[0]: expected text without NUL');
    expect(nul({ id: '1', a: [], f: 'y\u0000' })).toThrow('BTEC_Students.f: expected text without NUL');
  });
});
