/**
 * Hostile input, generated from a seed (FUZZ_SEED, printed on failure): malformed and
 * adversarial webhook bodies to /webhooks/{zoho,moodle} and GraphQL requests to /graphql,
 * through yoga.fetch in-process with bounded concurrency. Every generated webhook is invalid
 * or not properly signed, and every ingest mutation carries invalid records, so nothing may be
 * stored. Checked: no 5xx, no unhandled rejection or uncaught exception, /health/live still
 * answers, no GraphQL "Unexpected error." (an unhandled exception behind the mask), and the
 * database is byte-for-byte unchanged. A last test replays a sample against the real server
 * process (`src/main.ts`) and checks it is still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { isSafeNumber, parse as parseLosslessJson } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { signToken } from '../../src/auth/jwt.js';
import { signBody } from '../../src/auth/signature.js';
import { STUDENTS_DASHBOARD_QUERY } from '../../src/dashboard-query.js';
import { createTestApp } from '../support/app.js';
import { tableChecksum, type TableChecksums } from '../support/checksum.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID, JWT_SECRET, TEST_TENANTS } from '../support/fixtures.js';
import { createRandom, type Random } from './support.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_122);
const WEBHOOK_CASES = Number(process.env.FUZZ_WEBHOOK_CASES ?? 2700);
const GRAPHQL_CASES = Number(process.env.FUZZ_GRAPHQL_CASES ?? 2400);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 16);

const database = useFreshDatabase();
const { app } = createTestApp();

// ---------------------------------------------------------------------------------------
// Cases

interface Case {
  id: number;
  label: string;
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** GraphQL ingest mutations: every result must be REJECTED (nothing may be stored). */
  ingest?: boolean;
}

interface Outcome {
  case: Case;
  status: number;
  text: string;
  ms: number;
  error?: string;
}

const secretOf = (tenant: string) => TEST_TENANTS.find((t) => t.id === tenant)?.webhookSecret ?? 'no-such-secret';

/** Strings that break naive code: control characters, NUL, odd Unicode, injection-looking text, huge. */
function hostileString(r: Random): string {
  return r.pick([
    '\u0000',
    `a\u0000b`,
    '\u0001\u0002\u001f',
    '\ud800',
    '\udfff\ud800',
    '😀'.repeat(r.int(1, 50)),
    'x\u202ey',
    '\ufeff',
    "'; DROP TABLE \"Student\"; --",
    '${7*7}{{7*7}}',
    '../../etc/passwd',
    '<script>alert(1)</script>',
    '%s%n%x',
    ' '.repeat(r.int(1, 10)),
    'A'.repeat(r.int(256, 5000)),
    'B'.repeat(r.int(20_000, 60_000)),
    '1e308',
    '-0',
    'NaN',
    'Infinity',
    '0x1F',
    '__proto__',
  ]);
}

/** Values for keys no parser reads (prototype-pollution and friends). */
const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', '\u0000', '😀', 'x\u202ey', '$where', 'a'.repeat(5000)];

function hostileValue(r: Random, depth = 0): unknown {
  switch (r.int(0, depth > 2 ? 5 : 8)) {
    case 0:
      return hostileString(r);
    case 1:
      return r.pick([1e308, -1e308, 5e-324, -0, 2 ** 53 + 2, -(2 ** 63), 0.1 + 0.2, 1e21]);
    case 2:
      return r.pick([true, false, null]);
    case 3:
      return {};
    case 4:
      return [];
    case 5:
      return r.pick(['', '0', 'null', 'undefined', 'true']);
    case 6:
      // JSON.parse makes "__proto__" an own key, as the gateway's parsers see it.
      return JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}');
    case 7:
      return Array.from({ length: r.int(1, 5) }, () => hostileValue(r, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: r.int(1, 4) }, () => [r.pick(HOSTILE_KEYS), hostileValue(r, depth + 1)]));
  }
}

/** Adds keys no parser reads, with hostile values (`__proto__` as an own key, as JSON.parse makes it). */
function withHostileKeys(r: Random, record: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...record };
  for (let i = r.int(0, 3); i > 0; i--) Object.defineProperty(copy, r.pick(HOSTILE_KEYS), { value: hostileValue(r), enumerable: true, configurable: true, writable: true });
  return copy;
}

function nested(depth: number, leaf: unknown, r: Random): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = r.chance(0.5) ? [value] : { n: value };
  return value;
}

/** JSON text nested `depth` levels deep, without recursing in JSON.stringify. */
function nestedText(depth: number): string {
  return `${'{"n":['.repeat(depth)}1${']}'.repeat(depth)}`;
}

// --- Zoho: what each module reads, and values no reader of that kind accepts

type FieldKind = 'text' | 'id' | 'lookup' | 'money' | 'date' | 'datetime' | 'count' | 'enum' | 'score' | 'letter' | 'rows';

const ZOHO_FIELDS: Record<string, Record<string, FieldKind>> = {
  BTEC_Students: { Name: 'text', Full_Name: 'text', First_Name: 'text', Last_Name: 'text', Academic_Email: 'text', Phone_Number: 'text', City: 'text', Country: 'text', Status: 'enum', Student_Moodle_ID: 'id' },
  BTEC_Teachers: { Name: 'text', Full_Name: 'text', Email: 'text', Teacher_Moodle_ID: 'id', Status: 'text' },
  BTEC_Programs: { Name: 'text', Program_Code: 'text', Level: 'text', Duration_Months: 'count', Status: 'text' },
  BTEC_Units: { Name: 'text', Unit_Code: 'text', Credits: 'count', Level: 'text', Program: 'lookup' },
  BTEC_Classes: { Name: 'text', Class_Code: 'text', Moodle_Class_ID: 'id', Unit: 'lookup', Program: 'lookup', Teacher: 'lookup', Start_Date: 'date', End_Date: 'date', Schedule: 'text', Status: 'text' },
  BTEC_Enrollments: { Name: 'text', Student: 'lookup', Class: 'lookup', Start_Date: 'date', End_Date: 'date', Status: 'text' },
  BTEC_Registrations: { Name: 'text', Student: 'lookup', Program: 'lookup', Registration_Date: 'date', Start_Date: 'date', End_Date: 'date', Status: 'text', Total_Fees: 'money', Currency: 'text' },
  BTEC_Payments: { Name: 'text', Student: 'lookup', Registration: 'lookup', Amount: 'money', Currency: 'text', Due_Date: 'date', Payment_Date: 'date', Status: 'enum', Payment_Method: 'text', Receipt_Number: 'text' },
  BTEC_Requests: { Name: 'text', Student: 'lookup', Request_Type: 'text', Subject: 'text', Description: 'text', Status: 'enum', Submitted_Date: 'datetime', Resolved_Date: 'datetime', Response: 'text' },
  BTEC_Grades: {
    Name: 'text', Student: 'lookup', Unit: 'lookup', Class: 'lookup', Grade: 'letter', Score: 'score', Moodle_Grade_ID: 'id', Moodle_Grade_Composite_Key: 'text',
    Assignment_Name: 'text', Attempt_Number: 'count', Attempt_Date: 'datetime', Grader_Name: 'text', Grader_Moodle_ID: 'id', IV_Name: 'text', IV_Moodle_ID: 'id',
    Feedback: 'text', Grade_Status: 'text', Learning_Outcomes_Assessm: 'rows',
  },
};
const COMMON_FIELDS: Record<string, FieldKind> = { id: 'id', Modified_Time: 'datetime' };

/**
 * Values each reader rejects whatever else the record holds. (Numbers are valid text; blank is
 * valid for optional columns; a number beyond 2^53 arrives as a string and is a valid id.)
 */
const INVALID: Record<FieldKind, readonly unknown[]> = {
  text: [{}, [], true, false, { a: 1 }, [1, 2], JSON.parse('{"__proto__":{"polluted":true}}')],
  id: ['has space', 'tab\there', -1, 1.5, true, {}, [], [1]],
  lookup: [true, [], {}, { name: 'no id' }, { id: true }, { id: {} }, { id: 'a b' }, -5, 'a b', [{ id: '1' }]],
  money: ['12,50', 'abc', '1e5', '-5', '-0.01', {}, [], true, '99999999999', '1.2.3', '0x10', 1e308, 'NaN'],
  date: ['2026-13-01', '2026-02-30', 'not a date', 20260101, {}, [], true, '2026-02-13T10:30:15', '13/02/2026'],
  datetime: ['2026-02-13T10:30:15', 'garbage', 1718117126, {}, [], true, '2026-02-30T10:00:00Z', 'yesterday'],
  count: [-1, 1.5, 'three', '1e3', true, {}, [], '9007199254740993', 1e308, '-2'],
  enum: ['NotAStatus', 'Activ', 5, {}, [], true, 'Active!'],
  score: [101, -1, 'abc', 1e308, 'NaN', 'Infinity', {}, true, '100.5'],
  letter: ['Z', 'Excellent', 5, {}, [], true, 'Distinctive'],
  rows: ['not a list', [5], [[]], [{ LO_Code: {} }], [{ LO_Code: 'A.P1' }, { LO_Code: 'A.P1' }], [{ LO_Title: 'no code' }], {}, true, ['x']],
};

function zohoId(r: Random): string {
  return `57257670${String(r.int(0, 99_999_999_999)).padStart(11, '0')}`;
}

function validZohoValue(kind: FieldKind, r: Random): unknown {
  switch (kind) {
    case 'text': return r.pick(['Lina Haddad', 'STU-0042', 'Unit 1', 'Active', 'GBP']);
    case 'id': return String(r.int(1, 99999));
    case 'lookup': return { name: 'x', id: zohoId(r) };
    case 'money': return r.pick(['1500.00', 250, '0.5']);
    case 'date': return '2026-02-13';
    case 'datetime': return '2026-02-13T10:30:15+03:00';
    case 'count': return r.int(0, 60);
    case 'enum': return 'Active';
    case 'score': return r.int(0, 100);
    case 'letter': return r.pick(['Distinction', 'P', 'Merit']);
    case 'rows': return [{ LO_Code: 'A.P1', LO_Title: 'x', LO_Score: 'P' }];
  }
}

/** A record of the module with every field it reads set, then exactly one of them (the poison) made invalid. */
function poisonedZohoRecord(r: Random, module: string): { record: Record<string, unknown>; poison: string } {
  const fields = { ...COMMON_FIELDS, ...ZOHO_FIELDS[module]! };
  const record: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(fields)) {
    if (name === 'id') record.id = zohoId(r);
    else if (name === 'Status' && kind === 'enum') record.Status = module === 'BTEC_Payments' ? 'Pending' : module === 'BTEC_Requests' ? 'Submitted' : 'Active';
    else record[name] = validZohoValue(kind, r);
  }
  const poison = r.pick(Object.keys(fields));
  record[poison] = r.pick(INVALID[fields[poison]!]);
  return { record: withHostileKeys(r, record), poison };
}

const ZOHO_MODULES = Object.keys(ZOHO_FIELDS);

function zohoBody(r: Random): { body: unknown; label: string } {
  const shape = r.int(0, 9);
  if (shape <= 5) {
    // A record event: the record poisoned, the envelope possibly hostile in the fields it does not validate.
    const module = r.pick(ZOHO_MODULES);
    const { record, poison } = poisonedZohoRecord(r, module);
    const envelope: Record<string, unknown> = {
      notification_id: r.pick([`fz-${r.int(0, 1e9)}`, hostileValue(r), undefined]),
      module,
      operation: r.pick(['update', 'insert', 'edit', 'UPDATE', 'upsert']),
      record_id: r.chance(0.8) ? record.id : undefined,
      timestamp: r.pick(['2026-02-13T10:30:15+03:00', hostileValue(r), undefined]),
      data: record,
    };
    return { body: withHostileKeys(r, envelope), label: `zoho record ${module}.${poison}` };
  }
  if (shape === 6) {
    // Bulk records: every record poisoned.
    const module = r.pick(ZOHO_MODULES);
    const records = Array.from({ length: r.int(1, 20) }, () => poisonedZohoRecord(r, module).record);
    return { body: { module, data: records }, label: `zoho bulk ${module} ×${records.length}` };
  }
  if (shape === 7) {
    // An envelope that cannot be an event.
    const module = r.pick(ZOHO_MODULES);
    const { record } = poisonedZohoRecord(r, module);
    const variants: [string, unknown][] = [
      ['module not a string', { notification_id: 'fz', module: hostileValue(r) ?? 5, operation: 'update', data: record }],
      ['unknown module', { notification_id: 'fz', module: r.pick(['BTEC_Student', 'Contacts', 'btec_students', 'BTEC_Students ', hostileString(r)]), operation: 'update', record_id: '1', data: { id: '1', Name: 'x' } }],
      ['unknown operation', { notification_id: 'fz', module, operation: r.pick(['merge', 'DROP', '', 5, {}, null, hostileString(r)]), record_id: '1', data: record }],
      ['record_id ≠ data.id', { notification_id: 'fz', module, operation: 'update', record_id: '999', data: { ...record, id: '998' } }],
      ['record_id with whitespace', { notification_id: 'fz', module, operation: 'update', record_id: 'a b', data: { ...record, id: undefined } }],
      ['data not an object', { notification_id: 'fz', module, operation: 'update', record_id: '1', data: r.pick(['x', 5, [], [record], true]) }],
      ['bulk without module', { data: [record] }],
      ['neither event, bulk nor callback', withHostileKeys(r, { something: record })],
      ['notification id too long', { notification_id: 'n'.repeat(256 + r.int(0, 5000)), module, operation: 'update', record_id: '1', data: record }],
    ];
    const [label, body] = r.pick(variants);
    return { body, label: `zoho envelope: ${label}` };
  }
  if (shape === 8) {
    // A Notifications-API callback with at least one invalid piece.
    const callback: Record<string, unknown> = { server_time: 1718117126473, module: r.pick(ZOHO_MODULES), ids: [zohoId(r)], operation: 'update', channel_id: '1000000068001' };
    const broken = r.pick(['module', 'ids', 'channel_id', 'server_time', 'operation']);
    callback[broken] = r.pick(
      {
        module: ['Contacts', 5, '', hostileString(r)],
        ids: [[], [{}], [true], [null], [zohoId(r), ''], 'not a list', [zohoId(r), 'x'.repeat(256)]],
        channel_id: [{}, [], true, 'x'.repeat(300)],
        server_time: [{}, [], true, ''],
        operation: ['merge', 5, {}],
      }[broken]!,
    );
    return { body: callback, label: `zoho callback: bad ${broken}` };
  }
  // Top-level JSON that is not an object.
  return { body: r.pick([[], [{ module: 'BTEC_Students' }], 'string', 42, true, null, 1e308]), label: 'zoho non-object' };
}

// --- Moodle

const MOODLE_FIELDS: Record<string, Record<string, FieldKind | 'unix' | 'flag' | 'role' | 'status' | 'number' | 'graderRole' | 'moodleRows'>> = {
  user_created: { userid: 'id', role: 'role', timemodified: 'unix', firstname: 'text', lastname: 'text', email: 'text', phone1: 'text', city: 'text', country: 'text', suspended: 'flag', deleted: 'flag' },
  user_updated: { userid: 'id', role: 'role', timemodified: 'unix', firstname: 'text', lastname: 'text', email: 'text', suspended: 'flag' },
  user_enrolment_created: { enrollment_id: 'id', userid: 'id', courseid: 'id', status: 'status', timestart: 'unix', timeend: 'unix', timemodified: 'unix' },
  user_graded: { userid: 'id', itemid: 'id', courseid: 'id', timemodified: 'unix', grade_id: 'id', item_name: 'text', finalgrade: 'number', grademin: 'number', grademax: 'number' },
  submission_graded: {
    student_id: 'id', assignment_id: 'id', course_id: 'id', assignment_name: 'text', finalgrade: 'number', grademin: 'number', grademax: 'number',
    attempt_number: 'count', grader_name: 'text', grader_id: 'id', grader_role: 'graderRole', feedback: 'text', timemodified: 'unix', learning_outcomes: 'moodleRows',
  },
};

const MOODLE_INVALID: Record<string, readonly unknown[]> = {
  ...INVALID,
  unix: [-5, 'abc', {}, [], true, 1e308, '1e3', '-1'],
  flag: [2, 'yes', {}, [], -1, 'maybe'],
  role: ['admin', 5, {}, [], 'Student!'],
  status: [2, 'x', {}, true, [], -1],
  number: ['abc', {}, true, [], 'NaN', 'Infinity', '1e3', '1,5'],
  graderRole: ['boss', 5, {}, [], 'Teacher!'],
  moodleRows: ['x', [5], [{ code: {} }], [{ code: 'A.P1' }, { code: 'A.P1' }], [{ score: 'P' }], [{ code: 'A.P1', achieved: 'perhaps' }], {}],
};

function validMoodleValue(kind: string, r: Random): unknown {
  switch (kind) {
    case 'id': return String(r.int(1, 99999));
    case 'text': return 'Lina';
    case 'unix': return 1_760_000_000 + r.int(0, 1000);
    case 'flag': return 0;
    case 'role': return 'student';
    case 'status': return 0;
    case 'number': return 50;
    case 'count': return 1;
    case 'graderRole': return 'teacher';
    case 'moodleRows': return [{ code: 'A.P1', score: 'P', achieved: 1 }];
    default: return null;
  }
}

/** The plugin-form data of an event with every field it reads set, then exactly one of them (the poison) made invalid. */
function poisonedMoodleData(r: Random): { event: string; data: Record<string, unknown>; poison: string } {
  const event = r.pick(Object.keys(MOODLE_FIELDS));
  const fields = MOODLE_FIELDS[event]!;
  const data: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(fields)) data[name] = validMoodleValue(kind, r);
  if ('grademax' in fields) Object.assign(data, { grademin: 0, grademax: 100 });
  const poison = r.pick(Object.keys(fields));
  data[poison] = r.pick(MOODLE_INVALID[fields[poison]!]!);
  return { event, data: withHostileKeys(r, data), poison };
}

function moodleBody(r: Random): { body: unknown; label: string } {
  const shape = r.int(0, 9);
  if (shape <= 6) {
    const { event, data, poison } = poisonedMoodleData(r);
    const body = withHostileKeys(r, { event: r.pick([event, `\\core\\event\\${event}`]), event_id: r.pick([`fz-${r.int(0, 1e9)}`, undefined, r.int(0, 1e6)]), data });
    return { body, label: `moodle ${event}.${poison}` };
  }
  const event = r.pick(Object.keys(MOODLE_FIELDS));
  const variants: [string, unknown][] = [
    ['unknown event', { event: r.pick(['user_deleted', 'course_created', '', 5, {}, hostileString(r)]), event_id: 'fz', data: { userid: '1' } }],
    ['bad event_id', { event, event_id: r.pick([{}, [], true, 'has space', -1]), data: { userid: '1' } }],
    ['event_id ≠ eventId', { event, event_id: 'a', eventId: 'b', data: { userid: '1' } }],
    ['data not an object', { event, event_id: 'fz', data: r.pick([5, 'x', [], null, true]) }],
    ['envelope of an unsupported event', { eventname: `\\core\\event\\${r.pick(['user_created', 'user_updated', 'user_enrolment_created'])}`, objectid: 1, relateduserid: 2, other: {} }],
    ['user_graded envelope missing pieces', { eventname: '\\core\\event\\user_graded', objectid: 1, courseid: 3, other: r.pick([{}, { itemid: 5 }, { finalgrade: 50 }, null, 'x']), relateduserid: r.pick([undefined, '', null]) }],
    ['neither event nor envelope', withHostileKeys(r, {})],
    ['grade without a range', { event: 'user_graded', event_id: 'fz', data: { userid: '1', itemid: '2', finalgrade: 5, grademin: 10, grademax: r.pick([10, 5]) } }],
    ['non-object body', r.pick([[], [{ event: 'user_created' }], 'x', 7, null])],
  ];
  const [label, body] = r.pick(variants);
  return { body, label: `moodle envelope: ${label}` };
}

// --- Whole webhook requests

function mutateText(text: string, r: Random): string {
  let out = text;
  for (let i = r.int(1, 6); i > 0; i--) {
    const at = r.int(0, Math.max(0, out.length - 1));
    const piece = r.pick(['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', 'é', '😀', '\ud800', 'null', '1e999', '-', ' ']);
    const op = r.int(0, 2);
    out = op === 0 ? out.slice(0, at) + piece + out.slice(at) : op === 1 ? out.slice(0, at) + out.slice(at + r.int(1, 5)) : out.slice(0, at) + piece + out.slice(at + 1);
  }
  return out;
}

/** The gateway's own JSON parser (lossless-json): a body it can parse must not be validly signed unless it is an invalid event. */
function serverParses(text: string): boolean {
  try {
    parseLosslessJson(text, null, (value) => (isSafeNumber(value) ? Number(value) : value));
    return true;
  } catch {
    return false;
  }
}

/** A valid event (it would be stored if it were properly signed). */
function validEvent(sender: 'zoho' | 'moodle', r: Random): unknown {
  return sender === 'zoho'
    ? { notification_id: `fz-valid-${r.int(0, 1e9)}`, module: 'BTEC_Students', operation: 'update', record_id: '5725767000999000001', data: { id: '5725767000999000001', Name: 'STU-9001', Full_Name: 'Fuzz Valid', Status: 'Active', Student_Moodle_ID: `fz-${r.int(0, 1e6)}` } }
    : { event: 'user_created', event_id: `fz-valid-${r.int(0, 1e9)}`, data: { userid: `fz-${r.int(0, 1e6)}`, firstname: 'Fuzz', lastname: 'Valid' } };
}

function webhookCase(id: number, r: Random): Case {
  const sender = r.chance(0.55) ? 'zoho' : 'moodle';
  const tenant = r.pick(['default', 'northfield', 'default', 'ghost', 'north field', "'; --", hostileString(r).replace(/[^\x21-\x7e]/g, '') || 'x']);
  const headers: Record<string, string> = { 'content-type': r.pick(['application/json', 'application/json', 'application/json; charset=utf-8', 'application/vnd.zoho+json']) };
  if (tenant !== 'default' || r.chance(0.5)) headers['x-tenant-id'] = tenant;
  const path = `/webhooks/${sender}`;
  const mode = r.int(0, 19);

  const signed = (body: string, label: string): Case => ({ id, label, path, method: 'POST', headers: { ...headers, 'x-signature-256': signBody(body, secretOf(tenant)) }, body });
  const generated = () => (sender === 'zoho' ? zohoBody(r) : moodleBody(r));

  if (mode <= 9) {
    // Structurally invalid events with a valid signature: they reach the parsers.
    const { body, label } = generated();
    return signed(JSON.stringify(body), `signed ${label}`);
  }
  if (mode === 10) {
    const text = JSON.stringify(validEvent(sender, r));
    const cut = text.slice(0, r.int(0, text.length - 1));
    return signed(cut, `signed truncated JSON (${cut.length}/${text.length} bytes)`);
  }
  if (mode === 11) {
    const text = mutateText(JSON.stringify(r.chance(0.5) ? validEvent(sender, r) : generated().body), r);
    // Still parseable by the gateway: it might be a valid event, so it goes unsigned.
    if (serverParses(text)) return { id, label: 'unsigned mutated JSON', path, method: 'POST', headers, body: text };
    return signed(text, 'signed mutated JSON');
  }
  if (mode === 12) {
    const depth = r.pick([50, 200, 1000, 2500, 10_000]);
    const text = sender === 'zoho'
      ? `{"notification_id":"fz","module":"BTEC_Students","operation":"update","record_id":"1","data":{"id":"1","Status":{},"x":${nestedText(depth)}}}`
      : `{"event":"user_created","event_id":"fz","data":{"userid":{},"x":${nestedText(depth)}}}`;
    return signed(text, `signed deeply nested JSON (depth ${depth})`);
  }
  if (mode === 13 && r.chance(0.3)) {
    const size = r.pick([1024 * 1024 + 1, 2 * 1024 * 1024, 900 * 1024]);
    const filler = 'x'.repeat(size);
    const text = sender === 'zoho'
      ? JSON.stringify({ notification_id: 'fz', module: 'BTEC_Students', operation: 'update', record_id: '1', data: { id: '1', Status: 'Nope', Full_Name: filler } })
      : JSON.stringify({ event: 'user_created', event_id: 'fz', data: { userid: {}, firstname: filler } });
    return r.chance(0.5) ? signed(text, `signed huge body (${text.length} bytes)`) : { id, label: `unsigned huge body (${text.length} bytes)`, path, method: 'POST', headers, body: text };
  }
  if (mode === 14) {
    // Prototype-pollution shapes, raw (JSON.stringify would not write __proto__ keys of literals).
    const text = r.pick([
      '{"__proto__":{"module":"BTEC_Students","operation":"update","record_id":"77","data":{"id":"77","Full_Name":"P","Status":"Active"}}}',
      '{"constructor":{"prototype":{"module":"BTEC_Students","operation":"update"}}}',
      '{"__proto__":{"event":"user_created","event_id":"p","data":{"userid":"p1"}}}',
      '{"event":"user_created","event_id":"p2","data":{"__proto__":{"userid":"p2"}}}',
      '{"module":"BTEC_Students","operation":"update","record_id":"78","data":{"__proto__":{"id":"78","Full_Name":"P","Status":"Active"}}}',
      '{"module":"BTEC_Students","data":[{"__proto__":{"id":"79","Full_Name":"P","Status":"Active"}}]}',
      '{"__proto__":[],"module":{}}',
    ]);
    return signed(text, `signed prototype-pollution shape ${text.slice(0, 40)}`);
  }
  // Bad signatures over valid events (they would be stored if the signature counted).
  const text = JSON.stringify(validEvent(sender, r));
  const right = signBody(text, secretOf(tenant));
  const [label, signature] = r.pick([
    ['no signature', undefined],
    ['another tenant\'s secret', signBody(text, secretOf(tenant === 'default' ? 'northfield' : 'default'))],
    ['signature of other bytes', signBody(`${text} `, secretOf(tenant))],
    ['sha1= prefix', right.replace('sha256=', 'sha1=')],
    ['truncated hex', right.slice(0, -2)],
    ['hex plus junk', `${right}00`],
    ['all zeros', `sha256=${'0'.repeat(64)}`],
    ['not hex', `sha256=${'z'.repeat(64)}`],
    ['bare hex', right.slice('sha256='.length)],
    ['empty', ''],
    ['two signatures', `${right}, ${right}`],
    ['huge header', `sha256=${'a'.repeat(8000)}`],
  ] as const);
  const withSignature = signature === undefined ? headers : { ...headers, 'x-signature-256': signature };
  // Only the default and northfield tenants have a secret; for any other X-Tenant-Id even the "right" signature is wrong.
  return { id, label: `bad signature: ${label}`, path, method: 'POST', headers: withSignature, body: text };
}

/** Requests that fail before the body matters: method, content type, route. */
function webhookProtocolCase(id: number, r: Random): Case {
  const sender = r.pick(['zoho', 'moodle']);
  const body = JSON.stringify(validEvent(sender as 'zoho' | 'moodle', r));
  const signature = signBody(body, secretOf('default'));
  const [label, method, contentType] = r.pick([
    ['GET', 'GET', 'application/json'],
    ['PUT', 'PUT', 'application/json'],
    ['DELETE', 'DELETE', 'application/json'],
    ['PATCH', 'PATCH', 'application/json'],
    ['text/plain', 'POST', 'text/plain'],
    ['form', 'POST', 'application/x-www-form-urlencoded'],
    ['multipart', 'POST', 'multipart/form-data; boundary=x'],
    ['no content type', 'POST', ''],
    ['xml', 'POST', 'application/xml'],
  ] as const);
  const headers: Record<string, string> = { 'x-signature-256': signature };
  if (contentType) headers['content-type'] = contentType;
  const path = r.chance(0.9) ? `/webhooks/${sender}` : r.pick(['/webhooks/', '/webhooks/zoho/extra', '/webhooks/ZOHO', '/webhooks/zoho%00']);
  return { id, label: `webhook protocol: ${label} ${path}`, path, method, headers, body: method === 'GET' ? undefined : body };
}

// --- GraphQL

let tokens: Record<string, string> = {};

async function makeTokens() {
  const expired = await signToken({ sub: 'fz', role: 'admin', tenant: 'default' }, JWT_SECRET, -10);
  const noneAlg = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', role: 'admin', tenant: 'default' })).toString('base64url')}.`;
  const badRole = await new SignJWT({ role: 'root', tenant: 'default' }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').sign(new TextEncoder().encode(JWT_SECRET));
  tokens = {
    staff: await signToken({ sub: 'fz-staff', role: 'staff', tenant: 'default' }, JWT_SECRET),
    student: await signToken({ sub: 'fz-student', role: 'student', tenant: 'default', moodleUserId: DEMO_MOODLE_USER_ID }, JWT_SECRET),
    admin: await signToken({ sub: 'fz-admin', role: 'admin', tenant: 'northfield' }, JWT_SECRET),
    integration: await signToken({ sub: 'fz-integration', role: 'integration', tenant: 'default' }, JWT_SECRET),
    expired,
    noneAlg,
    badRole,
  };
}

function authHeader(r: Random): Record<string, string> {
  const choice = r.int(0, 11);
  if (choice <= 2) return {};
  const token = r.pick(['staff', 'student', 'admin', 'integration', 'staff', 'admin', 'expired', 'noneAlg', 'badRole']);
  if (choice === 11) return { authorization: r.pick(['Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a.b.c', `Bearer ${'x'.repeat(10_000)}`, 'bearer  ' + tokens.staff, `Bearer ${tokens.staff} extra`]) };
  return { authorization: `Bearer ${tokens[token]}` };
}

const REAL_FIELDS = ['me { id }', 'students(first: 2) { edges { node { id } } }', 'syncStats { parkedBacklog }', '_service { sdl }', 'student(moodleUserId: "00042") { id }', '__typename'];

function deepDocument(r: Random): string {
  const depth = r.pick([5, 12, 13, 50, 300, 3000]);
  const kind = r.int(0, 3);
  if (kind === 0) return `{${' ... on Query {'.repeat(depth)} __typename ${'}'.repeat(depth)} }`;
  if (kind === 1) return `{${' a {'.repeat(depth)} b ${'}'.repeat(depth)} }`;
  if (kind === 2) return `{ students { edges { node { academics { registrations { program { units { ${'id '.repeat(r.int(1, 50))} } } } } } } } }`;
  return `query($v: ${'['.repeat(depth)}Int${']'.repeat(depth)}) { __typename }`;
}

function wideDocument(r: Random): string {
  const n = r.pick([100, 1998, 2500, 10_000]);
  return r.chance(0.5) ? `{ ${'__typename '.repeat(n)} }` : `{ students(first: 100) { edges { node { ${'id email '.repeat(n / 2)} } } } }`;
}

function aliasDocument(r: Random): string {
  const n = r.pick([15, 16, 100, 1000]);
  const field = r.pick(REAL_FIELDS);
  return `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
}

function directiveDocument(r: Random): string {
  const n = r.pick([20, 21, 200, 3000]);
  const kind = r.int(0, 2);
  if (kind === 0) return `{ ${'__typename @include(if: true) '.repeat(n)} }`;
  if (kind === 1) return `{ __typename ${'@skip(if: false) '.repeat(n)} }`;
  return `{ __typename ${Array.from({ length: n }, (_, i) => `@d${i}`).join(' ')} }`;
}

function fragmentDocument(r: Random): string {
  return r.pick([
    'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }',
    'query { ...A } fragment A on Query { __typename ...A }',
    `query { ...F0 } ${Array.from({ length: 200 }, (_, i) => `fragment F${i} on Query { __typename ...F${i + 1} }`).join(' ')} fragment F200 on Query { ...F0 }`,
    'query { ...Missing }',
    'query { ...S } fragment S on Student { id }',
    `query { ${'...A '.repeat(500)} } fragment A on Query { students(first: 100) { edges { node { id } } } }`,
    'query { ...A } fragment A on Query { ...B } fragment B on Query { me { ...C } } fragment C on Student { ...C }',
  ]);
}

function introspectionDocument(r: Random): string {
  const ofType = (n: number): string => (n === 0 ? 'name' : `name ofType { ${ofType(n - 1)} }`);
  return r.pick([
    `{ __schema { types { name fields { name args { name type { ${ofType(r.int(1, 30))} } } type { ${ofType(r.int(1, 30))} } } } } }`,
    `{ ${Array.from({ length: r.pick([5, 15, 40]), }, (_, i) => `s${i}: __schema { types { name fields { name } } }`).join(' ')} }`,
    `{ ${Array.from({ length: 15 }, (_, i) => `t${i}: __type(name: "Student") { fields { name type { ${ofType(8)} } } }`).join(' ')} }`,
    '{ __type(name: "\\u0000") { name } }',
    `{ __type(name: "${'A'.repeat(100_000)}") { name } }`,
    '{ __schema { directives { name args { name } } } __typename }',
  ]);
}

function hugeDocument(r: Random): string {
  const size = r.pick([100_000, 100_000, 1_000_000]);
  return r.pick([
    `# ${'c'.repeat(size)}\n{ __typename }`,
    `{ student(zohoId: "${'z'.repeat(size)}") { id } }`,
    `{ students(search: "${'s'.repeat(size)}") { edges { cursor } } }`,
    `${' '.repeat(size)}{ __typename }`,
    `{ __typename ${'\n'.repeat(size)} }`,
  ]);
}

function invalidVariables(r: Random): { query: string; variables: unknown; operationName?: unknown; label: string } {
  const cases: (() => { query: string; variables: unknown; operationName?: unknown; label: string })[] = [
    () => ({ label: 'Int overflow', query: 'query($n: Int) { students(first: $n) { edges { cursor } } }', variables: { n: r.pick([2 ** 31, -(2 ** 31) - 1, 1e308, 1.5, '5', true, [], {}, -1, 101, 1e9]) } }),
    () => ({ label: 'enum', query: 'query($s: StudentStatus) { students(status: $s) { edges { cursor } } }', variables: { s: r.pick(['active', 'DELETED', 5, {}, ['ACTIVE'], hostileString(r)]) } }),
    () => ({ label: 'ID', query: 'query($id: ID) { student(id: $id) { id } }', variables: { id: r.pick([{}, [], true, 1e308, hostileString(r), '00000000-0000-0000-0000-000000000000', "' OR 1=1 --"]) } }),
    () => ({ label: 'student keys', query: 'query($a: String, $b: String) { student(zohoId: $a, moodleUserId: $b) { id } }', variables: { a: r.pick([null, 'x', hostileString(r)]), b: r.pick([null, 'y', hostileString(r)]) } }),
    () => ({ label: 'search', query: 'query($q: String) { students(search: $q) { edges { node { id } } } }', variables: { q: hostileString(r) } }),
    () => ({ label: 'lookup strings', query: 'query($q: String) { student(studentNumber: $q) { id } }', variables: { q: hostileString(r) } }),
    () => ({ label: 'cursor', query: 'query($c: String) { students(first: 5, after: $c) { edges { cursor } } }', variables: { c: r.pick([hostileString(r), Buffer.from(hostileString(r)).toString('base64'), Buffer.from('GPC:S:1').toString('base64'), 'T0M6MQ==']) } }),
    () => ({ label: 'sync filters', query: 'query($m: String, $s: IngestStatus, $src: SyncSource) { syncEvents(module: $m, status: $s, source: $src) { edges { cursor } } }', variables: { m: hostileString(r), s: r.pick(['CREATED', 'NOPE', 5]), src: r.pick(['ZOHO', 'zoho', {}]) } }),
    () => ({ label: 'missing required', query: 'query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', variables: {} }),
    () => ({ label: 'entities junk', query: 'query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Student { id } } }', variables: { r: Array.from({ length: r.int(1, 6) }, () => r.pick([{ __typename: 'Student', id: hostileString(r) }, { __typename: 'Student' }, { __typename: 'Nope' }, { __typename: 'Student', moodleUserId: hostileString(r) }, 5, 'x', [], {}, { __typename: { __proto__: null } }])) } }),
    () => ({ label: 'variables not an object', query: '{ __typename }', variables: r.pick([5, 'x', [1], true]) }),
    () => ({ label: 'unknown variables', query: '{ __typename }', variables: withHostileKeys(r, { extra: hostileValue(r) }) }),
    () => ({ label: 'operationName', query: 'query A { __typename } query B { __typename }', variables: {}, operationName: r.pick([undefined, 'C', 5, {}, hostileString(r)]) }),
    () => ({ label: 'input object junk', query: 'mutation($i: ZohoEventInput!) { ingestZohoEvent(input: $i) { status } }', variables: { i: r.pick([{}, { notificationId: 5 }, 'x', [], { ...withHostileKeys(r, {}), module: {} }]) } }),
  ];
  return r.pick(cases)();
}

/** Ingest mutations whose every record is invalid (as integration, admin, or signed): all REJECTED or refused. */
function ingestMutation(r: Random): { query: string; variables: Record<string, unknown>; label: string } {
  const kind = r.int(0, 2);
  if (kind === 0) {
    const module = r.pick(ZOHO_MODULES);
    const { record, poison } = poisonedZohoRecord(r, module);
    return {
      label: `ingestZohoEvent ${module}.${poison}`,
      query: 'mutation($i: ZohoEventInput!) { ingestZohoEvent(input: $i) { eventId status entityId message } }',
      variables: { i: { notificationId: `fz-${r.int(0, 1e9)}`, module, operation: r.pick(['update', 'insert']), recordId: typeof record.id === 'string' ? record.id : '1', data: record } },
    };
  }
  if (kind === 1) {
    const module = r.pick([...ZOHO_MODULES, 'Contacts', hostileString(r)]);
    const records = Array.from({ length: r.int(1, 10) }, () => (ZOHO_MODULES.includes(module) ? poisonedZohoRecord(r, module).record : r.pick([{ id: '1' }, 5, 'x', [], hostileValue(r)])));
    return { label: `ingestZohoRecords ${module.slice(0, 30)} ×${records.length}`, query: 'mutation($m: String!, $r: [JSON!]!) { ingestZohoRecords(module: $m, records: $r) { results { status entityId message } } }', variables: { m: module, r: records } };
  }
  const { event, data, poison } = poisonedMoodleData(r);
  return {
    label: `ingestMoodleEvent ${event}.${poison}`,
    query: 'mutation($i: MoodleEventInput!) { ingestMoodleEvent(input: $i) { eventId status entityId message } }',
    variables: { i: { event, eventId: r.pick([`fz-${r.int(0, 1e9)}`, null]), data } },
  };
}

function graphqlCase(id: number, r: Random): Case {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...authHeader(r) };
  const kind = r.int(0, 19);
  let label: string;
  let payload: Record<string, unknown>;
  let ingest = false;
  if (kind <= 1) [label, payload] = ['deep nesting', { query: deepDocument(r) }];
  else if (kind === 2) [label, payload] = ['wide selection', { query: wideDocument(r) }];
  else if (kind === 3) [label, payload] = ['many aliases', { query: aliasDocument(r) }];
  else if (kind === 4) [label, payload] = ['directive flood', { query: directiveDocument(r) }];
  else if (kind === 5) [label, payload] = ['fragments', { query: fragmentDocument(r) }];
  else if (kind === 6) [label, payload] = ['introspection', { query: introspectionDocument(r) }];
  else if (kind === 7) [label, payload] = ['huge document', { query: hugeDocument(r) }];
  else if (kind <= 10) {
    const v = invalidVariables(r);
    label = `variables: ${v.label}`;
    payload = { query: v.query, variables: v.variables, ...(v.operationName !== undefined ? { operationName: v.operationName } : {}) };
  } else if (kind <= 15) {
    const m = ingestMutation(r);
    label = m.label;
    payload = { query: m.query, variables: m.variables };
    ingest = true;
    const who = r.int(0, 3);
    if (who === 0) headers.authorization = `Bearer ${tokens.integration}`;
    else if (who === 1) headers.authorization = `Bearer ${tokens.admin}`;
    else if (who === 2) {
      delete headers.authorization;
      const text = JSON.stringify(payload);
      const tenant = r.pick(['default', 'northfield']);
      return { id, label: `signed ${label}`, path: '/graphql', method: 'POST', headers: { ...headers, 'x-tenant-id': tenant, 'x-signature-256': signBody(text, secretOf(tenant)) }, body: text, ingest };
    }
  } else if (kind === 16) {
    const text = mutateText(JSON.stringify({ query: r.pick(REAL_FIELDS.map((f) => `{ ${f} }`)), variables: {} }), r);
    return { id, label: 'mutated request JSON', path: '/graphql', method: 'POST', headers, body: text };
  } else if (kind === 17) {
    const [what, body] = r.pick([
      ['query not a string', JSON.stringify({ query: r.pick([5, {}, [], null, true]) })],
      ['batch', JSON.stringify([{ query: '{ __typename }' }, { query: '{ me { id } }' }])],
      ['empty', ''],
      ['null', 'null'],
      ['persisted query', JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'x'.repeat(64) } } })],
      ['syntax error', JSON.stringify({ query: r.pick(['{', '}', '{ students(', 'query { a: }', '"""', '{ __typename @ }', `{ "${hostileString(r)}" }`]) })],
      ['deep JSON in a JSON variable', `{"query":"mutation($r: [JSON!]!) { ingestZohoRecords(module: \\"BTEC_Units\\", records: $r) { results { status } } }","variables":{"r":[${nestedText(r.pick([100, 3000, 20_000]))}]}}`],
      ['deep JSON in an _Any variable', `{"query":"query($r: [_Any!]!) { _entities(representations: $r) { __typename } }","variables":{"r":[{"__typename":"Student","id":${nestedText(r.pick([100, 3000, 20_000]))}}]}}`],
      ['dashboard with a bad page size', JSON.stringify({ query: STUDENTS_DASHBOARD_QUERY, variables: { first: r.pick([-1, 0, 2 ** 31, '100', null]) } })],
    ] as const);
    if (what.startsWith('deep JSON')) headers.authorization = `Bearer ${tokens.integration}`;
    return { id, label: `request: ${what}`, path: '/graphql', method: 'POST', headers, body };
  } else if (kind === 18) {
    // GET: queries in the URL; a mutation over GET must be refused.
    const query = r.pick(['{ __typename }', 'mutation { replayParkedEvents }', deepDocument(r).slice(0, 4000), '{ me { id } }']);
    return { id, label: `GET ${query.slice(0, 30)}`, path: `/graphql?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(r.pick(['{}', 'x', '[]', '{"a":']))}`, method: 'GET', headers: { accept: r.pick(['application/json', 'text/html', 'text/event-stream', '*/*']), ...authHeader(r) } };
  } else {
    const [what, contentType] = r.pick([['text/plain', 'text/plain'], ['form', 'application/x-www-form-urlencoded'], ['multipart', 'multipart/form-data; boundary=----x'], ['graphql', 'application/graphql'], ['none', '']] as const);
    const h: Record<string, string> = { ...authHeader(r) };
    if (contentType) h['content-type'] = contentType;
    return { id, label: `content type: ${what}`, path: '/graphql', method: 'POST', headers: h, body: r.pick(['{ __typename }', 'query=%7B__typename%7D', '------x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query":"{ __typename }"}\r\n------x--', JSON.stringify({ query: '{ me { id } }' })]) };
  }
  return { id, label, path: '/graphql', method: 'POST', headers, body: JSON.stringify(payload), ingest };
}

/** Every case of the run, in a fixed order for the seed. */
function generateCases(seed: number): Case[] {
  const r = createRandom(seed);
  const cases: Case[] = [];
  for (let i = 0; i < WEBHOOK_CASES; i++) cases.push(r.chance(0.06) ? webhookProtocolCase(cases.length, r) : webhookCase(cases.length, r));
  for (let i = 0; i < GRAPHQL_CASES; i++) cases.push(graphqlCase(cases.length, r));
  return cases;
}

// ---------------------------------------------------------------------------------------
// Running

async function run(c: Case): Promise<Outcome> {
  const started = performance.now();
  try {
    const response = await app.fetch(`http://test${c.path}`, { method: c.method, headers: { ...c.headers }, ...(c.body !== undefined ? { body: c.body } : {}) });
    const text = await response.text();
    return { case: c, status: response.status, text, ms: performance.now() - started };
  } catch (error) {
    return { case: c, status: -1, text: '', ms: performance.now() - started, error: String((error as Error)?.stack ?? error) };
  }
}

async function runAll(cases: Case[], onProgress: (done: number) => Promise<void>): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      outcomes[index] = await run(cases[index]!);
      done++;
      if (done % 500 === 0) await onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return outcomes;
}

function describeCase(o: Outcome): string {
  const body = o.case.body === undefined ? '' : o.case.body.length > 300 ? `${o.case.body.slice(0, 300)}… (${o.case.body.length} chars)` : o.case.body;
  return `#${o.case.id} ${o.case.label}: ${o.case.method} ${o.case.path.slice(0, 120)} → ${o.status} ${o.error ?? o.text.slice(0, 300)}\n    headers ${JSON.stringify(o.case.headers).slice(0, 200)}\n    body ${JSON.stringify(body)}`;
}

function report(title: string, offending: Outcome[]): string {
  return `${title}: ${offending.length} case(s) (FUZZ_SEED=${SEED}; rerun with it to reproduce)\n  ${offending.slice(0, 8).map(describeCase).join('\n  ')}`;
}

// ---------------------------------------------------------------------------------------

let cases: Case[] = [];
let outcomes: Outcome[] = [];
let before: TableChecksums;
let after: TableChecksums;
const processErrors: { kind: string; error: string }[] = [];
const liveChecks: { done: number; status: number }[] = [];
let runtimeMs = 0;

beforeAll(async () => {
  await makeTokens();
  cases = generateCases(SEED);
  before = await tableChecksum(database.db);

  // Unhandled rejections and uncaught exceptions would end a production process (Node's
  // default): record them instead of letting vitest's handler report them out of context.
  const saved = { unhandledRejection: process.listeners('unhandledRejection'), uncaughtException: process.listeners('uncaughtException') };
  const onRejection = (reason: unknown) => processErrors.push({ kind: 'unhandledRejection', error: String((reason as Error)?.stack ?? reason).slice(0, 1500) });
  const onException = (error: Error) => processErrors.push({ kind: 'uncaughtException', error: String(error?.stack ?? error).slice(0, 1500) });
  process.removeAllListeners('unhandledRejection');
  process.removeAllListeners('uncaughtException');
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  const started = Date.now();
  try {
    outcomes = await runAll(cases, async (done) => {
      const live = await app.yoga.fetch('http://test/health/live');
      liveChecks.push({ done, status: live.status });
    });
    await new Promise((r) => setTimeout(r, 200)); // let late rejections surface
  } finally {
    runtimeMs = Date.now() - started;
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
    for (const listener of saved.unhandledRejection) process.on('unhandledRejection', listener as (...args: unknown[]) => void);
    for (const listener of saved.uncaughtException) process.on('uncaughtException', listener as (...args: unknown[]) => void);
  }
  after = await tableChecksum(database.db);
}, 180_000);

describe(`fuzz (FUZZ_SEED=${SEED})`, () => {
  it(`sends at least 5,000 generated hostile inputs in under 90 s`, () => {
    const byLabel = new Map<string, number>();
    for (const c of cases) {
      const kind = c.label.split(/[ :.(]/)[0]!;
      byLabel.set(kind, (byLabel.get(kind) ?? 0) + 1);
    }
    console.log(`fuzz: ${cases.length} cases in ${runtimeMs} ms (FUZZ_SEED=${SEED}); by kind: ${JSON.stringify(Object.fromEntries(byLabel))}`);
    // Where the time goes (latency summed per kind, so concurrent waits count too).
    const slow = new Map<string, number>();
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      const key = o.case.label.replace(/[\d.]+|\(.*$/g, '').slice(0, 30);
      slow.set(key, (slow.get(key) ?? 0) + o.ms);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    console.log([...slow].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([l, ms]) => `${Math.round(ms)} ms (${counts.get(l)} × ${Math.round(ms / counts.get(l)!)} ms)  ${l}`).join('\n'));
    expect(cases.length).toBeGreaterThanOrEqual(5000);
    expect(outcomes.filter(Boolean).length).toBe(cases.length);
    expect(runtimeMs).toBeLessThan(90_000);
  });

  it('answers every input without a 5xx or a thrown fetch', () => {
    const offending = outcomes.filter((o) => o.status >= 500 || o.status < 0);
    expect(offending.length, report('5xx replies', offending)).toBe(0);
  });

  it('stores nothing: every webhook is refused with a 4xx, every ingest mutation result is REJECTED', () => {
    const offending = outcomes.filter((o) => {
      if (o.case.path.startsWith('/webhooks')) return o.status < 400;
      if (!o.case.ingest || o.status >= 400) return false;
      const statuses = [...o.text.matchAll(/"status":"([A-Z]+)"/g)].map((m) => m[1]);
      return statuses.some((s) => s !== 'REJECTED');
    });
    expect(offending.length, report('inputs accepted', offending)).toBe(0);
  });

  it('leaves the database unchanged (every table, row by row)', () => {
    expect(after).toEqual(before);
  });

  it('never raises an unhandled rejection or uncaught exception (each would crash a production process)', () => {
    expect(processErrors.length, `FUZZ_SEED=${SEED}:\n${processErrors.slice(0, 5).map((e) => `${e.kind}: ${e.error}`).join('\n---\n')}`).toBe(0);
  });

  it('keeps answering /health/live during and after the run', async () => {
    expect(liveChecks.length).toBeGreaterThan(0);
    expect(liveChecks.every((c) => c.status === 200)).toBe(true);
    expect((await app.yoga.fetch('http://test/health/live')).status).toBe(200);
    expect((await app.yoga.fetch('http://test/health')).status).toBe(200);
  });

  it('never masks an unhandled exception as "Unexpected error." (bad input gets a coded 4xx-style error)', () => {
    const offending = outcomes.filter((o) => o.case.path.startsWith('/graphql') && /"Unexpected error\."|INTERNAL_SERVER_ERROR/.test(o.text));
    const kinds = new Map<string, number>();
    for (const o of offending) kinds.set(o.case.label.replace(/ \S+$/, ''), (kinds.get(o.case.label.replace(/ \S+$/, '')) ?? 0) + 1);
    expect(offending.length, `${report('unexpected errors', offending)}\n  by label: ${JSON.stringify(Object.fromEntries(kinds))}`).toBe(0);
  });

  it('leaves Object.prototype unpolluted', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// Targeted: hostile inputs found by the fuzz (or next to it), each a minimal reproduction

describe('targeted hostile inputs', () => {
  const post = async (sender: 'zoho' | 'moodle', text: string, tenant = 'default') => {
    const response = await app.fetch(`http://test/webhooks/${sender}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': tenant, 'x-signature-256': signBody(text, secretOf(tenant)) },
      body: text,
    });
    return { status: response.status, body: await response.text() };
  };

  /** Each body is refused with a 4xx naming the problem, and nothing is stored. */
  async function expectRefused(bodies: ['zoho' | 'moodle', string][]) {
    const before = await tableChecksum(database.db);
    const replies = [];
    for (const [sender, text] of bodies) replies.push({ text, ...(await post(sender, text)) });
    const wrong = replies.filter((r) => r.status < 400 || r.status >= 500);
    expect(wrong, 'refused with a 4xx').toEqual([]);
    expect(await tableChecksum(database.db)).toEqual(before);
  }

  it('a signed event creating a record without its required fields is a 4xx, not a 500 (a 5xx makes the sender retry it forever)', async () => {
    await expectRefused([
      ['zoho', '{"module":"BTEC_Students","operation":"update","record_id":"5725767000888000001","data":{"id":"5725767000888000001"}}'],
      ['zoho', '{"module":"BTEC_Programs","operation":"insert","record_id":"5725767000888000002","data":{"id":"5725767000888000002","Level":"3"}}'],
      ['zoho', '{"module":"BTEC_Payments","operation":"update","record_id":"5725767000888000003","data":{"id":"5725767000888000003","Currency":"GBP"}}'],
      // every field hidden under an own "__proto__" key: an id-only record as well
      ['zoho', '{"module":"BTEC_Students","operation":"update","record_id":"5725767000888000004","data":{"__proto__":{"id":"5725767000888000004","Full_Name":"P","Status":"Active"}}}'],
      ['moodle', '{"event":"user_created","event_id":"fz-nameless-1","data":{"userid":"fz-nameless-1"}}'],
    ]);
  });

  it('NUL characters in a signed event are a 4xx, not a 500', async () => {
    await expectRefused([
      ['zoho', JSON.stringify({ notification_id: 'fz-nul-1', module: 'BTEC_Students', operation: 'update', record_id: '5725767000888000011', data: { id: '5725767000888000011', Full_Name: 'A\u0000B', Status: 'Active' } })],
      ['zoho', JSON.stringify({ notification_id: 'fz-nul\u00002', module: 'BTEC_Students', operation: 'update', record_id: '5725767000888000012', data: { id: '5725767000888000012', Full_Name: 'AB', Status: 'Active' } })],
      ['zoho', JSON.stringify({ notification_id: 'fz-nul-3', module: 'BTEC_Students', operation: 'update', record_id: '57257670\u000088', data: { id: '57257670\u000088', Full_Name: 'AB', Status: 'Active' } })],
      ['moodle', JSON.stringify({ event: 'user_created', event_id: 'fz\u0000nul', data: { userid: 'fz-nul-4', firstname: 'A', lastname: 'B' } })],
      ['moodle', JSON.stringify({ event: 'user_created', event_id: 'fz-nul-5', data: { userid: 'fz-nul-5', firstname: 'A\u0000', lastname: 'B' } })],
    ]);
  });

  it('a Notifications-API callback id that is not a Zoho id is refused like a record id', async () => {
    // Record events reject such ids (readId); a callback parks them, and the resolver's
    // GET /crm/v2/{module}?ids=… then fails for the whole batch of that module (idSegment throws).
    await expectRefused(
      ['a b', '../settings', 'a.b', 'x?y=1'].map((id) => ['zoho', JSON.stringify({ server_time: 1718117126473, module: 'BTEC_Grades', ids: [id], operation: 'update', channel_id: '1000000068001' })] as ['zoho', string]),
    );
  });

  it('GET /graphql with malformed variables is a 400, not a 500', async () => {
    for (const variables of ['x', '{"a":', '[1', 'null,']) {
      const response = await app.yoga.fetch(`http://test/graphql?query=${encodeURIComponent('{ __typename }')}&variables=${encodeURIComponent(variables)}`, { headers: { accept: 'application/json' } });
      expect(response.status, `variables=${variables}: ${await response.clone().text()}`).toBe(400);
    }
  });

  it('deeply nested JSON in GraphQL variables gets a coded error, not "Unexpected error."', async () => {
    const integration = tokens.integration!;
    for (const body of [
      `{"query":"mutation($r: [JSON!]!) { ingestZohoRecords(module: \\"BTEC_Units\\", records: $r) { results { status } } }","variables":{"r":[${nestedText(20_000)}]}}`,
      `{"query":"mutation($i: MoodleEventInput!) { ingestMoodleEvent(input: $i) { status } }","variables":{"i":{"event":"user_created","data":{"userid":"fz-deep","firstname":"A","x":${nestedText(20_000)}}}}}`,
    ]) {
      const response = await app.yoga.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${integration}` }, body });
      const text = await response.text();
      expect(response.status).toBeLessThan(500);
      expect(text).not.toMatch(/Unexpected error|INTERNAL_SERVER_ERROR/);
    }
  });

  /** JSON text exactly `levels` levels deep (alternating objects and arrays), without recursing in JSON.stringify. */
  const levelsText = (levels: number) =>
    `${Array.from({ length: levels }, (_, i) => (i % 2 ? '[' : '{"n":')).join('')}1${Array.from({ length: levels }, (_, i) => (i % 2 ? ']' : '}')).reverse().join('')}`;
  // Each body is 2 levels (the envelope and its data) around the nested value: `depth` levels in all.
  const deepBodies = (depth: number): ['zoho' | 'moodle', string][] => [
    ['zoho', `{"notification_id":"fz-deep-${depth}","module":"BTEC_Students","operation":"update","record_id":"1","data":{"id":"1","Status":{},"x":${levelsText(depth - 2)}}}`],
    ['zoho', `{"module":"BTEC_Students","operation":"update","record_id":"1","data":{"id":"1","Status":{},"x":${levelsText(depth - 2)}}}`],
    ['moodle', `{"event":"user_created","event_id":"fz-deep-${depth}","data":{"userid":{},"x":${levelsText(depth - 2)}}}`],
  ];

  it('a signed body nested deeper than 64 levels is a 422 naming the limit, whatever the depth (the stack never overflows), and stores nothing', async () => {
    const before = await tableChecksum(database.db);
    const events = await database.db.syncEvent.count();
    for (const depth of [65, 1500, 2500]) {
      for (const [sender, text] of deepBodies(depth)) {
        // Repeated so V8 tiers the code up: the reply must not change with optimisation.
        for (let i = 0; i < 3; i++) {
          expect(await post(sender, text), `${sender} at depth ${depth}`).toEqual({ status: 422, body: JSON.stringify({ error: 'body: JSON nested deeper than 64 levels' }) });
        }
      }
    }
    // Depth is counted outside strings only: brackets in a string value do not count.
    const stringy = JSON.stringify({ notification_id: 'fz-deep-s', module: 'BTEC_Students', operation: 'update', record_id: '1', data: { id: '1', Status: {}, x: `${'{["\\'.repeat(100)}\\"{[` } });
    const reply = await post('zoho', stringy);
    expect(reply.status).toBe(422);
    expect(reply.body).not.toMatch(/nested deeper/);
    expect(await database.db.syncEvent.count()).toBe(events);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('a signed body 64 levels deep (the limit) is handled as before: refused for its bad field, not for its depth, never a 500', async () => {
    const before = await tableChecksum(database.db);
    const events = await database.db.syncEvent.count();
    const replies = [];
    for (const [sender, text] of deepBodies(64)) replies.push(await post(sender, text));
    expect(replies.map((r) => r.status)).toEqual([422, 422, 422]);
    for (const reply of replies) expect(reply.body).not.toMatch(/nested deeper|internal error/);
    expect(replies[0]!.body).toMatch(/Status/);
    expect(replies[1]!.body).toMatch(/Status/);
    expect(replies[2]!.body).toMatch(/userid/);
    expect(await database.db.syncEvent.count()).toBe(events);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('GraphQL ingest mutations with a value nested deeper than 64 levels are REJECTED naming the limit', async () => {
    // Variables deeper than 32 levels are refused before (params-guard, a 400) and documents past
    // 2,000 tokens by the parser: a too-deep value reaches the resolvers only as an inline literal.
    const literal = (levels: number) =>
      `${Array.from({ length: levels }, (_, i) => (i % 2 ? '[' : '{n: ')).join('')}1${Array.from({ length: levels }, (_, i) => (i % 2 ? ']' : '}')).reverse().join('')}`;
    const before = await tableChecksum(database.db);
    const events = await database.db.syncEvent.count();
    const graphql = async (query: string) => {
      const response = await app.yoga.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.integration!}` }, body: JSON.stringify({ query }) });
      const text = await response.text();
      expect(response.status, text).toBe(200);
      return JSON.parse(text) as unknown;
    };
    for (const depth of [65, 200]) {
      const deep = literal(depth);
      expect(await graphql(`mutation { ingestZohoEvent(input: {notificationId: "fz-deep-gql-${depth}", module: "BTEC_Students", operation: "update", recordId: "1", data: {id: "1", x: ${deep}}}) { status message } }`), `ingestZohoEvent at ${depth}`).toEqual({
        data: { ingestZohoEvent: { status: 'REJECTED', message: 'Zoho event: JSON nested deeper than 64 levels' } },
      });
      expect(await graphql(`mutation { ingestMoodleEvent(input: {event: "user_created", data: {userid: "fz-deep", x: ${deep}}}) { status message } }`), `ingestMoodleEvent at ${depth}`).toEqual({
        data: { ingestMoodleEvent: { status: 'REJECTED', message: 'Moodle event: JSON nested deeper than 64 levels' } },
      });
      expect(await graphql(`mutation { ingestZohoRecords(module: "BTEC_Units", records: [{id: "1", x: ${deep}}, {x: ${deep}}]) { results { status message } } }`), `ingestZohoRecords at ${depth}`).toEqual({
        data: { ingestZohoRecords: { results: [0, 1].map(() => ({ status: 'REJECTED', message: 'Zoho BTEC_Units record: JSON nested deeper than 64 levels' })) } },
      });
    }
    expect(await database.db.syncEvent.count()).toBe(events);
    expect(await tableChecksum(database.db)).toEqual(before);
  });

  it('GraphQL string arguments with NUL characters get a coded error or no match, not "Unexpected error."', async () => {
    const staff = tokens.staff!;
    for (const [query, variables] of [
      ['query($s: String) { students(search: $s) { edges { cursor } } }', { s: 'a\u0000b' }],
      ['query($s: String) { student(zohoId: $s) { id } }', { s: 'a\u0000b' }],
      ['query($s: String) { student(studentNumber: $s) { id } }', { s: '\u0000' }],
      ['query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', { r: [{ __typename: 'Student', moodleUserId: 'a\u0000' }] }],
    ] as const) {
      const response = await app.yoga.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${staff}` }, body: JSON.stringify({ query, variables }) });
      const text = await response.text();
      expect(response.status).toBeLessThan(500);
      expect(text, query).not.toMatch(/Unexpected error|INTERNAL_SERVER_ERROR/);
    }
  });
});

// ---------------------------------------------------------------------------------------
// The real server process: what an unhandled rejection does to it

describe('the server process (src/main.ts) survives hostile input', () => {
  let child: ChildProcess | null = null;
  let port = 0;
  const output: string[] = [];

  beforeAll(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: database.url,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        JWT_SECRET,
        WEBHOOK_SECRET: secretOf('default'),
        RATE_LIMIT_PER_VIEWER: '0',
        RATE_LIMIT_PER_IP: '0',
        RATE_LIMIT_WEBHOOKS_PER_TENANT: '0',
        REDIS_URL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = createInterface({ input: child.stdout! });
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output.join('')}`)), 60_000);
      lines.on('line', (line) => {
        output.push(line);
        const match = /"url":"http:\/\/localhost:(\d+)\/graphql"/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child!.once('exit', (code) => reject(new Error(`the server exited (${code}) before starting:\n${output.join('\n')}`)));
    });
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('is still alive after a sample of the fuzz cases and anonymous _entities mixing a bad type with a refused reference', async () => {
    const sample = generateCases(SEED ^ 0x5eed).filter((_, i) => i % 25 === 0);
    const crafted: Case[] = [
      {
        id: -1,
        label: 'anonymous _entities: a rejected reference, then an unknown type',
        path: '/graphql',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', variables: { r: [{ __typename: 'Student', id: 'x' }, { __typename: 'Nope' }] } }),
      },
    ];
    for (const c of [...sample, ...crafted]) {
      await fetch(`http://127.0.0.1:${port}${c.path}`, { method: c.method, headers: c.headers, ...(c.body !== undefined ? { body: c.body } : {}) }).catch(() => null);
    }
    await new Promise((r) => setTimeout(r, 500));
    const live = await fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.status).catch((error: Error) => `unreachable (${error.message})`);
    expect({ exitCode: child!.exitCode, live }, `the server died; its last output:\n${output.slice(-15).join('\n').slice(-3000)}`).toEqual({ exitCode: null, live: 200 });
  }, 120_000);
});
