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

  it('is the text of the original for plain data and for anything mixed into it, in random shapes', () => {
    class Point {
      constructor(readonly x = 1) {}
    }
    const invalidDate = new Date(NaN);
    const leaves: (() => unknown)[] = [
      () => null, () => true, () => false, () => 0, () => -0, () => 1.5e-7, () => 2 ** 53 + 2, () => NaN, () => -Infinity,
      () => '', () => 'Ünïcode "quoted" \\ \n \u2028', () => '\ud83d\ude00', () => new Date(Date.UTC(2026, 11, 3, 15, 0, 0, 7)), () => invalidDate,
      () => undefined, () => () => 1, () => Symbol('s'), () => new Point(), () => new Number(3), () => new String('s'), () => ({ toJSON: () => ({ b: 1, a: 2 }) }),
    ];
    const names = ['b', 'a', 'B', '10', '2', '0', '01', '-1', '4294967295', '4294967294', 'é', 'e\u0301', '', '__proto__x', 'toString'];
    // mulberry32: 32-bit integer steps (a float LCG loses its low bits past 2^53).
    let seed = 7;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const plainOnly = (depth: number): unknown => {
      const pick = random(depth > 3 ? 2 : 5);
      if (pick === 0) return [null, true, 3.25, 'text', new Date(0)][random(5)];
      if (pick === 1) return ['x', -0, 12345678901234567890, 'é'][random(4)];
      if (pick === 2) return Array.from({ length: random(4) }, () => plainOnly(depth + 1));
      const object: Record<string, unknown> = random(4) ? {} : (Object.create(null) as Record<string, unknown>);
      for (let i = random(5); i > 0; i--) object[names[random(names.length)]!] = plainOnly(depth + 1);
      return object;
    };
    const mixed = (depth: number): unknown => {
      if (depth > 3 || random(3) === 0) return leaves[random(leaves.length)]!();
      if (random(2)) {
        const array: unknown[] = Array.from({ length: random(4) }, () => mixed(depth + 1));
        if (random(5) === 0) array[array.length + 1] = 'after a hole';
        return array;
      }
      const object: Record<string, unknown> = {};
      for (let i = random(5); i > 0; i--) object[names[random(names.length)]!] = mixed(depth + 1);
      return object;
    };
    const shapes = { nullPrototype: 0, arrays: 0, longArrays: 0 };
    const count = (value: unknown) => {
      if (Array.isArray(value)) {
        shapes.arrays++;
        if (value.length > 1) shapes.longArrays++;
        value.forEach(count);
      } else if (value && typeof value === 'object') {
        if (!Object.getPrototypeOf(value)) shapes.nullPrototype++;
        Object.values(value).forEach(count);
      }
    };
    for (let i = 0; i < 2000; i++) {
      const value = i % 2 ? plainOnly(0) : mixed(0);
      count(value);
      expect(canonicalJson(value), JSON.stringify(value)).toBe(nativeCanonical(value));
    }
    // The generator does reach the shapes it is for.
    expect(shapes.nullPrototype).toBeGreaterThan(100);
    expect(shapes.longArrays).toBeGreaterThan(100);
  });

  it('is the text of the original for what plain data can hide: __proto__ keys, own toJSON and toISOString, getters, Proxies', () => {
    const date = () => new Date(Date.UTC(2026, 0, 2));
    const withToJson = Object.assign(date(), { toJSON: () => 'own toJSON' });
    const withIso = Object.assign(date(), { toISOString: () => new Date(5) });
    const fn = Object.assign(() => 1, { toJSON: () => 'function toJSON' });
    const cases: (() => unknown)[] = [
      () => JSON.parse('{"__proto__":{"b":1,"a":2},"z":[1,"2",{"__proto__":null}]}'),
      () => ({ d: withToJson, e: [withIso], f: date() }),
      () => [fn, { fn }, { a: () => 1 }, [() => 1]],
      () => ({ b: 1, '10': 'ten', a: 2, '9': 'nine', '': 'empty', '01': 'zero-one' }),
      () => new Proxy({ 1: 'a', 2: 'b' }, { ownKeys: () => ['2', '1'] }),
      () => [new Proxy({ b: 1, a: 2 }, {}), new Proxy([2, 1], {})],
    ];
    for (const make of cases) expect(canonicalJson(make()), String(make)).toBe(nativeCanonical(make()));
    // Getters are read once each, in the object's own order, as the original's Object.entries does.
    const counted = () => {
      let n = 0;
      return { get b() { return n++; }, get a() { return n++; }, c: [{ get y() { return n++; }, x: 1 }] };
    };
    expect(canonicalJson(counted())).toBe(nativeCanonical(counted()));
    expect(canonicalJson(counted())).toBe('{"a":1,"b":0,"c":[{"x":1,"y":2}]}');
  });

  it('is the text of the original for objects of many distinct keys and for long keys, quoted or not', () => {
    const many = Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`k${i}`, i]));
    const long = { ['x'.repeat(100_000)]: 1, ['"'.repeat(70)]: 2, short: 3 };
    for (const value of [many, long, many, long]) expect(canonicalJson(value)).toBe(nativeCanonical(value));
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
