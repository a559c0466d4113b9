/**
 * Tolerant field readers shared by the Zoho and Moodle parsers.
 *
 * Contract of every reader result: `undefined` = the payload does not mention the field (the
 * column is not touched), `null` = it is present but empty (the column is cleared), anything
 * else = the converted value. Bad values throw IngestInputError naming `<module>.<field>`.
 */
import { z } from 'zod';
import { IngestInputError } from './record.js';

export type RawRecord = Record<string, unknown>;

/** One payload object being read, and how to name its fields in messages. */
export interface Source {
  /** Zoho module or Moodle event name. */
  module: string;
  data: RawRecord;
  /** Zoho ✱: `Full Name` is accepted for `Full_Name`. */
  spaceVariants: boolean;
  /** Prefix for field names in messages, e.g. `other.` or `Learning_Outcomes_Assessm[2].` */
  path?: string;
}

export interface Origin {
  module: string;
  field: string;
}

/** Converts one non-blank raw value; throws via inputError when it cannot. */
export type Reader<T> = (value: unknown, origin: Origin) => T;

// ---------------------------------------------------------------------------------------
// Errors

const MAX_SHOWN = 80;

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return shown.length > MAX_SHOWN ? `${shown.slice(0, MAX_SHOWN - 1)}…` : shown;
}

export function inputError(origin: Origin, expected: string, value: unknown): IngestInputError {
  return new IngestInputError(
    `${origin.module}.${origin.field}: expected ${expected}, got ${describeValue(value)}`,
    origin.field,
  );
}

// ---------------------------------------------------------------------------------------
// Finding fields

export function isBlank(value: unknown): value is null | undefined | '' {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/**
 * A plain object, as JSON parses to (not an array, a class instance or null). By hand: zod's
 * record schema copies the object key by key, and with the date checks below it was 3 % of the
 * gateway's main thread in S3 (perf).
 */
export function isRecord(value: unknown): value is RawRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

/** The value as a plain object, or an error naming `<module>.<field>`. */
export function asRecord(value: unknown, origin: Origin, expected = 'an object'): RawRecord {
  if (!isRecord(value)) throw inputError(origin, expected, value);
  return value;
}

export function originOf(src: Source, field: string): Origin {
  return { module: src.module, field: `${src.path ?? ''}${field}` };
}

export function source(module: string, data: RawRecord, spaceVariants: boolean, path?: string): Source {
  return path === undefined ? { module, data, spaceVariants } : { module, data, spaceVariants, path };
}

function keyVariants(name: string, spaceVariants: boolean): string[] {
  const spaced = name.replaceAll('_', ' ');
  return spaceVariants && spaced !== name ? [name, spaced] : [name];
}

export interface Found {
  /** The key as spelled in the payload. */
  field: string;
  value: unknown;
}

/**
 * The first of `names` (in order, each in its accepted spellings) with a non-blank value;
 * else the first one present with a blank value; else undefined.
 */
export function findField(src: Source, names: string | readonly string[]): Found | undefined {
  let firstBlank: Found | undefined;
  for (const name of typeof names === 'string' ? [names] : names) {
    for (const key of keyVariants(name, src.spaceVariants)) {
      if (!Object.hasOwn(src.data, key) || src.data[key] === undefined) continue;
      const found = { field: key, value: src.data[key] };
      if (!isBlank(found.value)) return found;
      firstBlank ??= found;
    }
  }
  return firstBlank;
}

export interface ReadOptions {
  /** The column cannot be cleared: a present-but-blank value is an error. */
  required?: boolean;
}

export function readField<T>(
  src: Source,
  names: string | readonly string[],
  reader: Reader<T>,
  options: ReadOptions = {},
): T | null | undefined {
  const found = findField(src, names);
  if (!found) return undefined;
  const origin = originOf(src, found.field);
  if (isBlank(found.value)) {
    if (options.required) throw inputError(origin, 'a value (this field cannot be cleared)', found.value);
    return null;
  }
  return reader(found.value, origin);
}

/** A field that must be present and non-blank; `expected` describes it in the message. */
export function requireField<T>(
  src: Source,
  names: string | readonly string[],
  reader: Reader<T>,
  expected: string,
): T {
  const found = findField(src, names);
  const field = found?.field ?? (typeof names === 'string' ? names : (names[0] ?? '?'));
  if (!found || isBlank(found.value)) throw inputError(originOf(src, field), expected, found?.value);
  return reader(found.value, originOf(src, found.field));
}

/**
 * A list of objects (Zoho subform, Moodle array): undefined when absent, [] when null,
 * else each row read by `readRow` with a Source whose messages say `<field>[<index>].`.
 */
export function readRows<T>(
  src: Source,
  names: string | readonly string[],
  readRow: (row: Source, index: number) => T | undefined,
): T[] | undefined {
  const found = findField(src, names);
  if (!found) return undefined;
  if (isBlank(found.value)) return [];
  if (!Array.isArray(found.value)) throw inputError(originOf(src, found.field), 'a list of rows', found.value);
  const rows: T[] = [];
  found.value.forEach((raw, index) => {
    const path = `${src.path ?? ''}${found.field}[${index}].`;
    const data = asRecord(raw, { module: src.module, field: path.slice(0, -1) }, 'a row object');
    const row = readRow(source(src.module, data, src.spaceVariants, path), index);
    if (row !== undefined) rows.push(row);
  });
  return rows;
}

/** Rejects a list whose rows repeat a value that must be unique (e.g. criterion codes). */
export function assertDistinct<T>(src: Source, listField: string, rows: readonly T[], keyOf: (row: T) => string, keyName: string): void {
  const seen = new Map<string, number>();
  rows.forEach((row, index) => {
    const key = keyOf(row);
    const first = seen.get(key);
    if (first !== undefined) {
      throw inputError(
        originOf(src, `${listField}[${index}].${keyName}`),
        `a ${keyName} unique within the list (row ${first} has it too)`,
        key,
      );
    }
    seen.set(key, index);
  });
}

// ---------------------------------------------------------------------------------------
// Readers

/**
 * Text limits. Postgres cannot store NUL, and an indexed column (names, emails, ids) fails
 * past ~2,700 bytes: a value beyond these is the sender's error (REJECTED naming the field),
 * never a 500 that tells the sender to retry forever.
 */
export const MAX_TEXT = 500;
export const MAX_LONG_TEXT = 20_000;
export const MAX_ID = 255;

function textReader(max: number): Reader<string> {
  return (value, origin) => {
    let text: string;
    if (typeof value === 'string') text = value.trim();
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
    else throw inputError(origin, 'text', value);
    if (text.includes('\u0000')) throw inputError(origin, 'text without NUL characters', value);
    if (text.length > max) throw inputError(origin, `text of at most ${max} characters (got ${text.length})`, `${text.slice(0, 40)}…`);
    return text;
  };
}

/** Names, codes, emails and other single-line fields (up to MAX_TEXT characters). */
export const readText: Reader<string> = textReader(MAX_TEXT);
/** Descriptions, feedback, responses (up to MAX_LONG_TEXT characters). */
export const readLongText: Reader<string> = textReader(MAX_LONG_TEXT);

/** Ids stay strings exactly as sent ("00042" keeps its zeros); integers become strings. */
export const readId: Reader<string> = (value, origin) => {
  if (typeof value === 'string' && value.trim().length > MAX_ID) {
    throw inputError(origin, `an id of at most ${MAX_ID} characters (got ${value.trim().length})`, `${value.trim().slice(0, 40)}…`);
  }
  if (typeof value === 'string' && /^\S+$/.test(value.trim()) && !value.includes('\u0000')) return value.trim();
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    if (Number.isSafeInteger(value)) return String(value);
    throw inputError(
      origin,
      'an id sent as a string (this number is beyond 2^53, so its digits may already be lost; send the id as a string)',
      value,
    );
  }
  throw inputError(origin, 'an id (a string, or a non-negative integer)', value);
};

const lookupObject = z.looseObject({ id: z.union([z.string(), z.number()]).nullish() });

/** Zoho lookup ✱: `{name, id}`, a bare id, or blank (cleared). Returns the id. */
export const readLookup: Reader<string | null> = (value, origin) => {
  if (typeof value === 'string' || typeof value === 'number') return readId(value, origin);
  const parsed = lookupObject.safeParse(value);
  if (!parsed.success || parsed.data.id === undefined) {
    throw inputError(origin, 'a lookup {"name": …, "id": …}, an id, or null', value);
  }
  const id = parsed.data.id;
  return isBlank(id) ? null : readId(id, { ...origin, field: `${origin.field}.id` });
};

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const INTEGER_TEXT = /^[+-]?\d+(\.0*)?$/;

function toNumber(value: unknown, pattern: RegExp): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && pattern.test(value.trim())) return Number(value.trim());
  return Number.NaN;
}

/** Numbers ✱ may arrive as strings. */
export function numberReader(range?: { min: number; max: number }): Reader<number> {
  const expected = range ? `a number from ${range.min} to ${range.max}` : 'a number';
  return (value, origin) => {
    const n = toNumber(value, NUMBER_TEXT);
    if (!Number.isFinite(n) || (range && (n < range.min || n > range.max))) throw inputError(origin, expected, value);
    return n;
  };
}

export const readNumber = numberReader();

/** Non-negative whole numbers (credits, months, attempts); "3" and "3.0" are accepted. */
export const readCount: Reader<number> = (value, origin) => {
  const n = toNumber(value, INTEGER_TEXT);
  if (!Number.isSafeInteger(n) || n < 0) throw inputError(origin, 'a non-negative whole number', value);
  return n;
};

const DECIMAL_TEXT = /^([+-]?)(\d*)(?:\.(\d*))?$/;
/** Decimal(12, 2): at most 10 integer digits. */
const MAX_INTEGER_DIGITS = 10;

/** Money: a non-negative decimal, returned as a string with two decimals ("1500.00"). */
export const readMoney: Reader<string> = (value, origin) => {
  const text = typeof value === 'number' && Number.isFinite(value) ? plainNumberText(value) : value;
  const match = typeof text === 'string' ? DECIMAL_TEXT.exec(text.trim()) : null;
  const [, sign = '', whole = '', fraction = ''] = match ?? [];
  if (!match || (whole === '' && fraction === '')) throw inputError(origin, 'a decimal number', value);
  const cents = roundToCents(whole, fraction);
  if (sign === '-' && cents !== 0n) throw inputError(origin, 'a non-negative decimal number', value);
  const formatted = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  if (formatted.indexOf('.') > MAX_INTEGER_DIGITS) {
    throw inputError(origin, `an amount with at most ${MAX_INTEGER_DIGITS} digits before the decimal point`, value);
  }
  return formatted;
};

function plainNumberText(n: number): string {
  const text = String(n);
  return /e/i.test(text) ? n.toFixed(2) : text;
}

/** Exact half-up rounding of a decimal string to cents (no binary floating point). */
function roundToCents(whole: string, fraction: string): bigint {
  const padded = fraction.padEnd(3, '0');
  const cents = BigInt(`${whole || '0'}${padded.slice(0, 2)}`);
  return padded.charCodeAt(2) >= '5'.charCodeAt(0) ? cents + 1n : cents;
}

const isoDate = z.iso.date();
const isoDateTime = z.iso.datetime({ offset: true });
const EXAMPLE_DATE_TIME = '2026-02-13T10:30:15+03:00';

function utcMidnight(yyyyMmDd: string): Date {
  return new Date(`${yyyyMmDd}T00:00:00.000Z`);
}

/**
 * @db.Date columns: `YYYY-MM-DD` → that day at UTC midnight. A date-time is accepted too and
 * keeps the calendar day as written in its own offset (`2026-02-13T23:30:00+03:00` → 02-13).
 */
export const readDate: Reader<Date> = (value, origin) => {
  const text = typeof value === 'string' ? value.trim() : '';
  if (isoDate.safeParse(text).success || isoDateTime.safeParse(text).success) return utcMidnight(text.slice(0, 10));
  throw inputError(origin, 'a date YYYY-MM-DD', value);
};

/** Instants: ISO-8601 with an offset (a local time would be a guess), or a bare date (UTC midnight). */
export const readDateTime: Reader<Date> = (value, origin) => {
  const text = typeof value === 'string' ? value.trim() : '';
  // Date-times first: they are what senders send, and a failed zod parse builds its issues.
  if (isoDateTime.safeParse(text).success) return new Date(text);
  if (isoDate.safeParse(text).success) return utcMidnight(text);
  throw inputError(origin, `an ISO-8601 date-time with offset (e.g. ${EXAMPLE_DATE_TIME}) or a date YYYY-MM-DD`, value);
};

/** Unix seconds (Moodle); 0 means "not set" and reads as null. */
export const readUnixTime: Reader<Date | null> = (value, origin) => {
  const seconds = toNumber(value, NUMBER_TEXT);
  if (!Number.isFinite(seconds) || seconds < 0) throw inputError(origin, 'a time in unix seconds', value);
  if (seconds === 0) return null;
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) throw inputError(origin, 'a time in unix seconds', value);
  return date;
};

/** The UTC calendar day of an instant, for @db.Date columns fed from unix times. */
export function utcDay(instant: Date): Date {
  return utcMidnight(instant.toISOString().slice(0, 10));
}

const FLAGS: ReadonlyMap<unknown, boolean> = new Map<unknown, boolean>([
  [0, false],
  [1, true],
  [false, false],
  [true, true],
  ['0', false],
  ['1', true],
  ['false', false],
  ['true', true],
]);

/** Moodle flags: 0/1, true/false (also as strings). */
export const readFlag: Reader<boolean> = (value, origin) => {
  const flag = FLAGS.get(typeof value === 'string' ? value.trim().toLowerCase() : value);
  if (flag === undefined) throw inputError(origin, '0 or 1 (or true/false)', value);
  return flag;
};

function enumName(display: string): string {
  return display.trim().toUpperCase().replace(/[\s_-]+/g, '_');
}

/** Picklist → Prisma enum: "In Review" → IN_REVIEW, any case; an unknown value is an error. */
export function enumReader(displayValues: readonly string[]): Reader<string> {
  const allowed = new Set(displayValues.map(enumName));
  const expected = `one of ${displayValues.join(', ')}`;
  return (value, origin) => {
    const name = typeof value === 'string' ? enumName(value) : '';
    if (!allowed.has(name)) throw inputError(origin, expected, value);
    return name;
  };
}

/** Drops absent (undefined) entries. */
export function present<T>(entries: Record<string, T | undefined>): Record<string, T> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined)) as Record<string, T>;
}
