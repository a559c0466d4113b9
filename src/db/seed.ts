import { createHash } from 'node:crypto';
import type { BtecGrade, PaymentStatus, Prisma, RequestStatus, StudentStatus } from '../generated/prisma/client.js';
import type { Db } from './client.js';

/** The student count `npm run seed` uses when none is given. */
export const DEFAULT_STUDENT_COUNT = 200;

/** The demo student every seeded tenant contains, with every dashboard section filled. */
export const DEMO_STUDENT = {
  studentNumber: 'STU-0042',
  moodleUserId: '00042',
  fullName: 'Lina Haddad',
  firstName: 'Lina',
  lastName: 'Haddad',
  email: 'lina.haddad@college.example',
} as const;

export interface SeedOptions {
  /** Tenant the rows belong to; its Tenant row must already exist. */
  tenantId: string;
  /** Number of students (the demo student STU-0042 is added on top when this is below 42). */
  students: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** The day every generated date is relative to (default: today, UTC). */
  today?: Date;
  /** Called after each batch with the rows written so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

export type SeedTable =
  | 'programs'
  | 'units'
  | 'teachers'
  | 'classes'
  | 'students'
  | 'registrations'
  | 'payments'
  | 'enrollments'
  | 'requests'
  | 'grades'
  | 'learningOutcomes';

/** What the demo student's finance tab must show on the seed's `today` (DESIGN.md arithmetic). */
export interface DemoFinance {
  currency: 'GBP';
  totalFees: string;
  totalPaid: string;
  balance: string;
  overdueAmount: string;
  nextDue: { amount: string; dueDate: string } | null;
}

export interface SeedSummary {
  tenantId: string;
  seed: number;
  /** The `today` dates were generated around, as YYYY-MM-DD. */
  today: string;
  /** Student rows written (the tombstoned one included). */
  students: number;
  /** Rows written per table, tombstoned rows included. */
  counts: Record<SeedTable, number>;
  /** Rows written with deletedAt set, per table. */
  tombstoned: Record<SeedTable, number>;
  demoStudentId: string;
  demoStudent: {
    id: string;
    zohoId: string;
    moodleUserId: string;
    studentNumber: string;
    finance: DemoFinance;
    unitsTotal: number;
    unitsCompleted: number;
  };
  /** The student tombstoned with all of their rows. */
  tombstonedStudentId: string | null;
}

type RegistrationStatus = 'Active' | 'Completed' | 'Withdrawn' | 'Suspended';
type EnrollmentStatus = 'Active' | 'Completed' | 'Withdrawn';
type IntakeKind = 'past' | 'main' | 'recent';

type ProgramRow = Prisma.ProgramCreateManyInput & { id: string };
type UnitRow = Prisma.UnitCreateManyInput & { id: string };
type TeacherRow = Prisma.TeacherCreateManyInput & { id: string; moodleUserId: string; fullName: string };
type ClassRow = Prisma.ClassCreateManyInput & { id: string; startDate: Date; endDate: Date };
type StudentRow = Prisma.StudentCreateManyInput & { id: string; moodleUserId: string };
type RegistrationRow = Prisma.RegistrationCreateManyInput & { id: string; status: RegistrationStatus; totalFees: string };
type PaymentRow = Prisma.PaymentCreateManyInput & { id: string; status: PaymentStatus; amount: string; dueDate: Date };
type EnrollmentRow = Prisma.EnrollmentCreateManyInput & { id: string };
type RequestRow = Prisma.StudentRequestCreateManyInput & { id: string };
type GradeRow = Prisma.GradeCreateManyInput & { id: string; unitId: string; btecGrade: BtecGrade };
type LearningOutcomeRow = Prisma.LearningOutcomeCreateManyInput & { id: string };

interface SeedRows {
  programs: ProgramRow[];
  units: UnitRow[];
  teachers: TeacherRow[];
  classes: ClassRow[];
  students: StudentRow[];
  registrations: RegistrationRow[];
  payments: PaymentRow[];
  enrollments: EnrollmentRow[];
  requests: RequestRow[];
  grades: GradeRow[];
  learningOutcomes: LearningOutcomeRow[];
}

const SEED_TABLES: readonly SeedTable[] = [
  'programs',
  'units',
  'teachers',
  'classes',
  'students',
  'registrations',
  'payments',
  'enrollments',
  'requests',
  'grades',
  'learningOutcomes',
];

// ---------------------------------------------------------------------------------------
// Deterministic randomness

interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  weighted<T>(entries: readonly (readonly [T, number])[]): T;
  normal(mean: number, deviation: number): number;
  uuid(): string;
}

/** sfc32 (128-bit state) keyed by the SHA-256 of `key`. */
function createRandom(key: string): Random {
  const digest = createHash('sha256').update(key).digest();
  let a = digest.readUInt32LE(0);
  let b = digest.readUInt32LE(4);
  let c = digest.readUInt32LE(8);
  let d = digest.readUInt32LE(12);
  const nextUint32 = () => {
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) nextUint32();

  const next = () => nextUint32() / 4294967296;
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (probability) => next() < probability,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted: (entries) => {
      const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
      let roll = next() * total;
      for (const [value, weight] of entries) {
        roll -= weight;
        if (roll < 0) return value;
      }
      return entries[entries.length - 1]![0];
    },
    normal: (mean, deviation) => {
      const u = 1 - next();
      const v = next();
      return mean + deviation * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    uuid: () => uuidFromWords(nextUint32(), nextUint32(), nextUint32(), nextUint32()),
  };
}

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

/** An RFC 4122 version-4 uuid made of 128 random bits (6 of them fixed by the format). */
function uuidFromWords(w0: number, w1: number, w2: number, w3: number): string {
  const version = ((w1 & 0x0fff) | 0x4000) >>> 0;
  const variant = ((w2 >>> 16) & 0x3fff) | 0x8000;
  return `${hex(w0, 8)}-${hex(w1 >>> 16, 4)}-${hex(version, 4)}-${hex(variant, 4)}-${hex(w2 & 0xffff, 4)}${hex(w3, 8)}`;
}

// ---------------------------------------------------------------------------------------
// Dates and money

const DAY_MS = 86_400_000;

function utcDay(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}

function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

function addMonths(date: Date, months: number): Date {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(Date.UTC(year, month, Math.min(date.getUTCDate(), lastDay)));
}

function mondayOnOrBefore(date: Date): Date {
  return addDays(date, -((date.getUTCDay() + 6) % 7));
}

function daysBetween(from: Date, to: Date): number {
  return Math.round((to.getTime() - from.getTime()) / DAY_MS);
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** A working-hours instant on `day` (UTC). */
function atWorkingHours(random: Random, day: Date): Date {
  return new Date(utcDay(day).getTime() + random.int(8 * 3600, 17 * 3600) * 1000 + random.int(0, 999));
}

/** An instant between `notBefore` and an hour before `today`. */
function pastInstant(random: Random, notBefore: Date, today: Date): Date {
  const latest = today.getTime() - 3_600_000;
  const earliest = Math.min(notBefore.getTime(), latest - 3_600_000);
  return new Date(earliest + Math.floor(random.next() * (latest - earliest)));
}

function formatCents(cents: number): string {
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

function parseCents(amount: string): number {
  const [whole, fraction = '0'] = amount.split('.');
  return Number(whole) * 100 + Number(fraction.padEnd(2, '0'));
}

function splitCents(total: number, parts: number): number[] {
  const base = Math.floor(total / parts / 100) * 100;
  return Array.from({ length: parts }, (_, i) => (i === parts - 1 ? total - base * (parts - 1) : base));
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

// ---------------------------------------------------------------------------------------
// Sync metadata

/**
 * A stable hash of a record's significant fields. Every `fields` object here is built by a
 * literal with a fixed key order, so its values in order identify its content.
 */
function fingerprintOf(fields: object): string {
  const values = Object.values(fields).map((value: unknown) => (value instanceof Date ? value.getTime() : value ?? ''));
  return createHash('sha256').update(values.join('\u001f')).digest('hex');
}

interface SyncStamp {
  sourceUpdatedAt: Date;
  fingerprint: string;
  syncedAt: Date;
}

/** The sync columns of a row last changed in Zoho at `updatedAt`. */
function syncStamp(random: Random, fields: object, updatedAt: Date): SyncStamp {
  return {
    sourceUpdatedAt: updatedAt,
    fingerprint: fingerprintOf(fields),
    syncedAt: new Date(updatedAt.getTime() + random.int(800, 45_000)),
  };
}

/** Zoho record ids: org prefix, a digit per module, a running number (19 digits). */
class ZohoIds {
  private readonly counters = new Map<string, number>();
  private static readonly MODULE_DIGIT: Record<string, number> = {
    students: 1,
    teachers: 2,
    programs: 3,
    units: 4,
    classes: 5,
    enrollments: 6,
    registrations: 7,
    payments: 8,
    requests: 9,
    grades: 0,
  };

  next(module: keyof typeof ZohoIds.MODULE_DIGIT): string {
    const n = (this.counters.get(module) ?? 0) + 1;
    this.counters.set(module, n);
    return `5725767000${ZohoIds.MODULE_DIGIT[module]}${pad(n, 8)}`;
  }
}

/** Running numbers for record names (REG-000001…) and Moodle ids. */
class Counter {
  private value: number;
  constructor(start = 0) {
    this.value = start;
  }
  next(): number {
    return ++this.value;
  }
}

// ---------------------------------------------------------------------------------------
// The curated catalogue

interface UnitSpec {
  code: string;
  name: string;
  credits: 15 | 30;
}

interface ProgramSpec {
  code: string;
  name: string;
  level: string;
  durationMonths: 12 | 24;
  feeCents: number;
  /** Relative popularity among new students. */
  weight: number;
  /** The Level 3 programme students typically progress from. */
  progressesFrom?: string;
  units: UnitSpec[];
}

const unit = (code: string, name: string, credits: 15 | 30): UnitSpec => ({ code, name, credits });

const PROGRAMS: readonly ProgramSpec[] = [
  {
    code: 'L3-COMP',
    name: 'BTEC Level 3 Extended Diploma in Computing',
    level: 'Level 3',
    durationMonths: 24,
    feeCents: 640_000,
    weight: 24,
    units: [
      unit('U1-PRCS', 'Principles of Computer Science', 30),
      unit('U2-FCSY', 'Fundamentals of Computer Systems', 30),
      unit('U3-PMCP', 'Planning and Management of Computing Projects', 30),
      unit('U4-SDDP', 'Software Design and Development Project', 30),
      unit('U6-WBDV', 'Website Development', 15),
      unit('U7-MAPP', 'Mobile Apps Development', 15),
      unit('U9-ITSE', 'IT Systems Security and Encryption', 15),
      unit('U11-CYBR', 'Cyber Security and Incident Management', 15),
    ],
  },
  {
    code: 'L3-BUS',
    name: 'BTEC Level 3 Extended Diploma in Business',
    level: 'Level 3',
    durationMonths: 24,
    feeCents: 620_000,
    weight: 20,
    units: [
      unit('U1-EXBU', 'Exploring Business', 30),
      unit('U2-MKTC', 'Developing a Marketing Campaign', 30),
      unit('U3-PBFN', 'Personal and Business Finance', 30),
      unit('U4-MGEV', 'Managing an Event', 15),
      unit('U5-INTB', 'International Business', 15),
      unit('U6-PRMG', 'Principles of Management', 30),
      unit('U8-RECR', 'Recruitment and Selection Process', 15),
      unit('U14-CUST', 'Investigating Customer Service', 15),
    ],
  },
  {
    code: 'L3-HSC',
    name: 'BTEC Level 3 Extended Diploma in Health and Social Care',
    level: 'Level 3',
    durationMonths: 24,
    feeCents: 580_000,
    weight: 16,
    units: [
      unit('U1-HLDV', 'Human Lifespan Development', 30),
      unit('U2-WHSC', 'Working in Health and Social Care', 30),
      unit('U4-ECRS', 'Enquiries into Current Research in Health and Social Care', 30),
      unit('U5-MICS', 'Meeting Individual Care and Support Needs', 15),
      unit('U6-WEXP', 'Work Experience in Health and Social Care', 15),
      unit('U7-SAFE', 'Principles of Safe Practice in Health and Social Care', 15),
      unit('U12-SAIN', 'Supporting Individuals with Additional Needs', 15),
    ],
  },
  {
    code: 'HNC-COMP',
    name: 'BTEC Level 4 Higher National Certificate in Computing',
    level: 'Level 4',
    durationMonths: 12,
    feeCents: 675_000,
    weight: 16,
    progressesFrom: 'L3-COMP',
    units: [
      unit('U1-PROG', 'Programming', 15),
      unit('U2-NETW', 'Networking', 15),
      unit('U3-PRPR', 'Professional Practice', 15),
      unit('U4-DBDD', 'Database Design and Development', 15),
      unit('U5-SECU', 'Security', 15),
      unit('U6-PLCP', 'Planning a Computing Project', 15),
      unit('U9-SDLC', 'Software Development Lifecycles', 15),
      unit('U10-WEBD', 'Website Design and Development', 15),
    ],
  },
  {
    code: 'HNC-ENG',
    name: 'BTEC Level 4 Higher National Certificate in Engineering',
    level: 'Level 4',
    durationMonths: 12,
    feeCents: 700_000,
    weight: 10,
    units: [
      unit('U1-EDSN', 'Engineering Design', 15),
      unit('U2-EMTH', 'Engineering Maths', 15),
      unit('U3-ESCI', 'Engineering Science', 15),
      unit('U4-MPEP', 'Managing a Professional Engineering Project', 15),
      unit('U8-MECP', 'Mechanical Principles', 15),
      unit('U19-EEPR', 'Electrical and Electronic Principles', 15),
      unit('U17-QUAL', 'Quality and Process Improvement', 15),
      unit('U13-THRM', 'Fundamentals of Thermodynamics and Heat Engines', 15),
    ],
  },
  {
    code: 'HND-BUS',
    name: 'BTEC Level 5 Higher National Diploma in Business',
    level: 'Level 5',
    durationMonths: 12,
    feeCents: 725_000,
    weight: 14,
    progressesFrom: 'L3-BUS',
    units: [
      unit('U21-RPRJ', 'Research Project', 30),
      unit('U22-OBMG', 'Organisational Behaviour Management', 15),
      unit('U23-BSTR', 'Business Strategy', 15),
      unit('U24-LEAD', 'Leadership and Management in Practice', 15),
      unit('U25-GLBE', 'Global Business Environment', 15),
      unit('U27-DGMK', 'Digital Marketing', 15),
      unit('U29-PRJM', 'Project Management', 15),
    ],
  },
];

interface Place {
  city: string;
  country: string;
  phone: (random: Random) => string;
}

const digits = (random: Random, count: number) => Array.from({ length: count }, () => random.int(0, 9)).join('');
/** Ofcom's range reserved for drama (07700 900000–900999): realistic, never a real number. */
const ukMobile = (random: Random) => `+44 7700 900${pad(random.int(0, 999), 3)}`;
const abroad = (city: string, country: string, format: (random: Random) => string): Place => ({ city, country, phone: format });

const DEMO_HOME: Place = { city: 'Manchester', country: 'United Kingdom', phone: () => '+44 7700 900042' };

const UK_PLACES: readonly Place[] = [
  'London', 'London', 'London', 'London', 'Manchester', 'Manchester', 'Birmingham', 'Birmingham', 'Leeds', 'Bristol',
  'Leicester', 'Bradford', 'Sheffield', 'Nottingham', 'Liverpool', 'Coventry', 'Cardiff', 'Glasgow', 'Edinburgh', 'Belfast',
  'Newcastle upon Tyne', 'Luton', 'Reading', 'Slough', 'Milton Keynes',
].map((city) => ({ city, country: 'United Kingdom', phone: ukMobile }));

interface NameGroup {
  weight: number;
  first: readonly string[];
  last: readonly string[];
  /** Where students of this heritage who study from abroad live. */
  abroad: readonly Place[];
}

/** Names by heritage, weighted roughly like a large urban UK college. */
const NAME_GROUPS: readonly NameGroup[] = [
  {
    weight: 30,
    first: [
      'Oliver', 'Amelia', 'Jack', 'Isla', 'Harry', 'Olivia', 'George', 'Emily', 'Thomas', 'Sophie', 'James', 'Grace', 'Charlie', 'Freya',
      'Alfie', 'Ella', 'Callum', 'Eilidh', 'Rhys', 'Carys', 'Kieran', 'Siobhan', 'Ben', 'Chloe', 'Daniel', 'Lucy', 'Joshua', 'Hannah',
      'Liam', 'Megan', 'Ryan', 'Jessica', 'Samuel', 'Holly', 'Connor', 'Niamh', 'Owen', 'Ffion', 'Lewis', 'Abigail',
    ],
    last: [
      'Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Davies', 'Evans', 'Roberts', 'Wright', 'Walker', 'Hughes', 'Green', 'Hall',
      'Wood', 'Murphy', 'Campbell', 'MacDonald', 'Lloyd', 'Morgan', 'Clarke', "O'Connor", 'Kelly', 'Turner', 'Edwards', 'Cooper', 'Harris',
      'Jackson', 'Bennett', 'Price', 'Fletcher', 'Shaw', 'Stewart', 'Reid', 'Doyle', 'Byrne', 'Parry', 'Howells', 'Marshall', 'Ward',
    ],
    abroad: [],
  },
  {
    weight: 5,
    first: ['Darnell', 'Shanice', 'Tyrone', 'Keisha', 'Jordan', 'Aaliyah', 'Marcus', 'Chantelle', 'Jerome', 'Tia', 'Andre', 'Jada', 'Nathaniel', 'Imani'],
    last: ['Campbell-Brown', 'Clarke', 'Grant', 'Robinson', 'Thomas', 'Francis', 'Lewis', 'Henry', 'Baptiste', 'Forbes', 'Gayle', 'McKenzie'],
    abroad: [abroad('Kingston', 'Jamaica', (r) => `+1 876 ${digits(r, 3)} ${digits(r, 4)}`)],
  },
  {
    weight: 8,
    first: ['Mohammed', 'Aisha', 'Omar', 'Fatima', 'Yusuf', 'Layla', 'Karim', 'Noor', 'Samir', 'Rania', 'Tariq', 'Hana', 'Khalid', 'Salma', 'Ziad', 'Dina', 'Hamza', 'Yasmin'],
    last: ['Hassan', 'Mansour', 'Nasser', 'Saleh', 'Haddad', 'Khoury', 'Farouk', 'Aziz', 'Ali', 'Darwish', 'Ibrahim', 'Younes', 'Abdullah', 'Sayegh', 'Hamdan', 'Qasim'],
    abroad: [
      abroad('Dubai', 'United Arab Emirates', (r) => `+971 50 ${digits(r, 3)} ${digits(r, 4)}`),
      abroad('Amman', 'Jordan', (r) => `+962 79 ${digits(r, 3)} ${digits(r, 4)}`),
    ],
  },
  {
    weight: 16,
    first: [
      'Arjun', 'Priya', 'Rohan', 'Ananya', 'Vikram', 'Deepa', 'Sanjay', 'Kavya', 'Imran', 'Sana', 'Aryan', 'Nisha', 'Harpreet', 'Simran',
      'Bilal', 'Ayesha', 'Rahul', 'Meera', 'Zain', 'Anika', 'Gurpreet', 'Pooja', 'Faisal', 'Riya',
    ],
    last: [
      'Patel', 'Sharma', 'Singh', 'Gupta', 'Iyer', 'Reddy', 'Chowdhury', 'Malik', 'Qureshi', 'Bhatt', 'Khan', 'Hussain', 'Rahman', 'Begum',
      'Kaur', 'Shah', 'Mistry', 'Islam', 'Sandhu', 'Joshi', 'Nair', 'Mehta', 'Siddiqui', 'Uddin',
    ],
    abroad: [
      abroad('Karachi', 'Pakistan', (r) => `+92 300 ${digits(r, 7)}`),
      abroad('Dhaka', 'Bangladesh', (r) => `+880 17 ${digits(r, 4)} ${digits(r, 4)}`),
      abroad('Mumbai', 'India', (r) => `+91 98 ${digits(r, 4)} ${digits(r, 4)}`),
    ],
  },
  {
    weight: 9,
    first: ['Chinedu', 'Ngozi', 'Kwame', 'Ama', 'Tunde', 'Adaeze', 'Kofi', 'Zainab', 'Emeka', 'Folake', 'Yaw', 'Abena', 'Femi', 'Chiamaka', 'Segun', 'Efua', 'Obinna', 'Funmilayo'],
    last: ['Okafor', 'Adeyemi', 'Mensah', 'Owusu', 'Balogun', 'Nwosu', 'Boateng', 'Abubakar', 'Eze', 'Osei', 'Okonkwo', 'Asante', 'Adebayo', 'Oyelaran', 'Appiah', 'Danjuma'],
    abroad: [
      abroad('Lagos', 'Nigeria', (r) => `+234 803 ${digits(r, 3)} ${digits(r, 4)}`),
      abroad('Accra', 'Ghana', (r) => `+233 24 ${digits(r, 3)} ${digits(r, 4)}`),
    ],
  },
  {
    weight: 5,
    first: ['Wei', 'Mei', 'Xinyi', 'Hao', 'Jun', 'Yan', 'Zihan', 'Ling', 'Yiming', 'Shu', 'Kai', 'Jiayi'],
    last: ['Chen', 'Wang', 'Li', 'Zhang', 'Liu', 'Huang', 'Zhao', 'Wu', 'Zhou', 'Xu', 'Lin', 'Yang'],
    abroad: [
      abroad('Kuala Lumpur', 'Malaysia', (r) => `+60 12 ${digits(r, 3)} ${digits(r, 4)}`),
      abroad('Hong Kong', 'Hong Kong', (r) => `+852 9${digits(r, 3)} ${digits(r, 4)}`),
    ],
  },
  { weight: 1, first: ['Hiroshi', 'Yuki', 'Haruto', 'Sakura', 'Ren', 'Aoi', 'Kenji', 'Hina'], last: ['Tanaka', 'Sato', 'Suzuki', 'Watanabe', 'Ito', 'Yamamoto', 'Nakamura', 'Kobayashi'], abroad: [] },
  { weight: 1, first: ['Min-jun', 'Soo-ah', 'Ji-woo', 'Seo-yeon', 'Jin', 'Ha-eun', 'Do-hyun', 'Yuna'], last: ['Kim', 'Park', 'Lee', 'Choi', 'Jung', 'Kang', 'Cho', 'Yoon'], abroad: [] },
  { weight: 2, first: ['Minh', 'Linh', 'Thanh', 'Anh', 'Huy', 'Trang', 'Duc', 'Ngoc', 'Quang', 'Thu'], last: ['Nguyen', 'Tran', 'Le', 'Pham', 'Hoang', 'Vu', 'Dang', 'Bui'], abroad: [] },
  {
    weight: 5,
    first: ['Mateusz', 'Zofia', 'Tomasz', 'Katarzyna', 'Łukasz', 'Agnieszka', 'Piotr', 'Magdalena', 'Jakub', 'Aleksandra', 'Krzysztof', 'Natalia'],
    last: ['Nowak', 'Wójcik', 'Kowalczyk', 'Mazur', 'Krawczyk', 'Zając', 'Król', 'Wieczorek', 'Jabłoński', 'Pawlak', 'Michalak', 'Górski'],
    abroad: [abroad('Warsaw', 'Poland', (r) => `+48 501 ${digits(r, 3)} ${digits(r, 3)}`)],
  },
  {
    weight: 4,
    first: ['Andrei', 'Ioana', 'Mihai', 'Elena', 'Alexandru', 'Bianca', 'Cristian', 'Andreea', 'Florin', 'Raluca', 'Vlad', 'Daria'],
    last: ['Popescu', 'Ionescu', 'Popa', 'Dumitru', 'Stan', 'Munteanu', 'Constantin', 'Marin', 'Tudor', 'Georgescu', 'Radu', 'Lazăr'],
    abroad: [abroad('Bucharest', 'Romania', (r) => `+40 721 ${digits(r, 3)} ${digits(r, 3)}`)],
  },
  { weight: 2, first: ['Luka', 'Ana', 'Marko', 'Ivana', 'Nikola', 'Mia', 'Stefan', 'Jelena'], last: ['Horvat', 'Novak', 'Kovačević', 'Jovanović', 'Petrović', 'Babić', 'Marković', 'Knežević'], abroad: [] },
  {
    weight: 4,
    first: ['Diego', 'Lucía', 'Mateo', 'Valentina', 'Santiago', 'Camila', 'Luis', 'Sofía', 'Alejandro', 'Paula', 'Javier', 'Carmen'],
    last: ['García', 'Rodríguez', 'Martínez', 'López', 'Gómez', 'Hernández', 'Torres', 'Ruiz', 'Díaz', 'Moreno', 'Jiménez', 'Navarro'],
    abroad: [abroad('Madrid', 'Spain', (r) => `+34 612 ${digits(r, 3)} ${digits(r, 3)}`)],
  },
  {
    weight: 3,
    first: ['João', 'Beatriz', 'Inês', 'Gabriel', 'Tiago', 'Mariana', 'Rafael', 'Leonor', 'Diogo', 'Carolina'],
    last: ['Silva', 'Santos', 'Pereira', 'Costa', 'Fernandes', 'Oliveira', 'Rodrigues', 'Martins', 'Sousa', 'Carvalho'],
    abroad: [abroad('Lisbon', 'Portugal', (r) => `+351 912 ${digits(r, 3)} ${digits(r, 3)}`)],
  },
  {
    weight: 3,
    first: ['Elif', 'Mehmet', 'Zeynep', 'Emre', 'Ayşe', 'Burak', 'Deniz', 'Can', 'Ece', 'Kerem'],
    last: ['Yılmaz', 'Demir', 'Kaya', 'Şahin', 'Çelik', 'Aydın', 'Öztürk', 'Arslan', 'Doğan', 'Koç'],
    abroad: [abroad('Istanbul', 'Türkiye', (r) => `+90 532 ${digits(r, 3)} ${digits(r, 2)} ${digits(r, 2)}`)],
  },
  {
    weight: 2,
    first: ['Dariush', 'Shirin', 'Reza', 'Leila', 'Arash', 'Parisa', 'Kian', 'Nazanin'],
    last: ['Karimi', 'Hosseini', 'Ahmadi', 'Rahimi', 'Moradi', 'Jafari', 'Tehrani', 'Sadeghi'],
    abroad: [],
  },
];

/** Share of people whose first and last names come from different heritages. */
const MIXED_NAME_SHARE = 0.12;
/** Share of students of a heritage with a home abroad who study from there (online). */
const STUDYING_FROM_ABROAD_SHARE = 0.12;

const SCHEDULE_SLOTS: readonly string[] = [
  'Mon 09:00–12:00', 'Mon 13:00–16:00', 'Tue 09:00–12:00', 'Tue 13:30–16:30', 'Wed 09:00–12:00',
  'Wed 18:00–21:00', 'Thu 09:30–12:30', 'Thu 13:00–16:00', 'Fri 09:00–12:00', 'Tue & Thu 14:00–16:00',
];

const ROOMS: readonly string[] = ['A104', 'A212', 'B204', 'B310', 'C012 (Lab)', 'C114 (Lab)', 'D201', 'Online (Teams)'];

const PAYMENT_METHODS: readonly (readonly [string, number])[] = [
  ['Bank Transfer', 35],
  ['Debit Card', 30],
  ['Direct Debit', 20],
  ['Credit Card', 10],
  ['Cash', 5],
];

// ---------------------------------------------------------------------------------------
// BTEC criteria, feedback and requests

interface Criterion {
  code: string;
  band: 'P' | 'M' | 'D';
  title: string;
  definition: string;
}

const CRITERION_VERBS = {
  P: ['Explain', 'Describe', 'Produce', 'Identify', 'Carry out'],
  M: ['Analyse', 'Compare', 'Assess', 'Justify'],
  D: ['Evaluate', 'Critically evaluate', 'Justify, with reference to evidence,'],
} as const;

const AIM_FOCUS = [
  (name: string) => `the key principles of ${name}`,
  (name: string) => `how ${name} is applied in a vocational setting`,
  (name: string) => `the outcome of a ${name} activity against its objectives`,
] as const;

/** BTEC criteria of a unit: two Pass and one Merit per learning aim, Distinctions across aims. */
function criteriaFor(spec: UnitSpec): Criterion[] {
  const aims = spec.credits === 30 ? ['A', 'B', 'C'] : ['A', 'B'];
  const topic = spec.name.toLowerCase().replace(/\bit\b/g, 'IT');
  const criteria: Criterion[] = [];
  const make = (code: string, band: Criterion['band'], aimIndex: number, n: number): Criterion => {
    const verb = CRITERION_VERBS[band][(n + aimIndex) % CRITERION_VERBS[band].length]!;
    const focus = AIM_FOCUS[aimIndex % AIM_FOCUS.length]!(topic);
    return {
      code,
      band,
      title: `${verb} ${focus}`,
      definition: `Learning aim ${code.split('.')[0]}: ${verb.toLowerCase()} ${focus}, supported by evidence from the assignment brief.`,
    };
  };
  aims.forEach((aim, i) => {
    criteria.push(make(`${aim}.P${2 * i + 1}`, 'P', i, 1), make(`${aim}.P${2 * i + 2}`, 'P', i, 2), make(`${aim}.M${i + 1}`, 'M', i, 1));
  });
  criteria.push(make('AB.D1', 'D', 0, 1));
  if (aims.length === 3) criteria.push(make('C.D2', 'D', 2, 2));
  return criteria;
}

const GRADE_FEEDBACK: Record<BtecGrade, readonly string[]> = {
  DISTINCTION: [
    'Outstanding work: a thorough, well-evidenced evaluation that goes beyond the brief.',
    'Excellent analysis and a convincing, critical evaluation. Well done.',
    'A highly professional submission with clear justification of every decision.',
  ],
  MERIT: [
    'Good analysis throughout; to reach Distinction, evaluate alternatives more critically.',
    'Well structured and accurate. Strengthen the evaluation with evidence from your testing.',
    'Solid work with clear comparisons; conclusions need more justification for a Distinction.',
  ],
  PASS: [
    'All pass criteria met. Add analysis of why, not only what, to reach Merit.',
    'Criteria met with sound descriptions; comparisons and analysis are needed for Merit.',
    'A competent submission. Use the merit criteria as a checklist next time.',
  ],
  REFER: [
    'Some pass criteria are not yet met; see the comments against each criterion and resubmit.',
    'Evidence is missing for one or more pass criteria. One resubmission is allowed.',
    'Incomplete submission: please book a tutorial before resubmitting.',
  ],
};

const REQUEST_TYPES: readonly (readonly [string, number])[] = [
  ['Transcript', 18],
  ['Certificate', 10],
  ['Assessment Extension', 26],
  ['Leave of Absence', 8],
  ['Program Change', 6],
  ['Fee Installment', 16],
  ['Other', 16],
];

interface RequestText {
  subject: string;
  description: string;
}

function requestText(random: Random, type: string, context: { unitName: string; programName: string }): RequestText {
  switch (type) {
    case 'Transcript':
      return random.pick([
        { subject: 'Official transcript for university application', description: 'Please issue an official transcript of my BTEC results so I can complete my UCAS application.' },
        { subject: 'Transcript for employer', description: 'My new employer has asked for a transcript showing my unit grades to date.' },
      ]);
    case 'Certificate':
      return random.pick([
        { subject: 'Replacement certificate', description: 'My certificate was damaged when I moved house. Could a replacement be issued?' },
        { subject: 'Certificate collection', description: 'I am unable to attend the certificate ceremony; could my certificate be posted to me?' },
      ]);
    case 'Assessment Extension':
      return {
        subject: `Extension request: ${context.unitName}`,
        description: random.pick([
          'I have been unwell for the past week (fit note attached) and request a one-week extension.',
          'A family emergency prevented me from completing the assignment. I request an extension of ten days.',
          'My work placement hours changed at short notice; I would be grateful for a short extension.',
        ]),
      };
    case 'Leave of Absence':
      return random.pick([
        { subject: 'Leave of absence for medical treatment', description: 'I need to take four weeks of leave for a planned operation and recovery.' },
        { subject: 'Leave of absence for family reasons', description: 'I need to travel abroad to care for a relative and request three weeks of leave.' },
      ]);
    case 'Program Change':
      return {
        subject: `Transfer from ${context.programName}`,
        description: 'After discussing with my tutor I would like to transfer to a different programme from next term.',
      };
    case 'Fee Installment':
      return random.pick([
        { subject: 'Spread remaining fees over monthly instalments', description: 'Could my remaining balance be split into monthly payments by direct debit?' },
        { subject: 'Postpone next instalment', description: 'My student finance payment is delayed; can my next instalment be moved by four weeks?' },
      ]);
    default:
      return random.pick([
        { subject: 'Update of personal details', description: 'I have moved house; please update my address and phone number.' },
        { subject: 'Library access card', description: 'My library card stopped working at the start of term.' },
        { subject: 'Parking permit', description: 'I would like to apply for a student parking permit for the Tuesday and Thursday sessions.' },
        { subject: 'Reasonable adjustments', description: 'I would like extra time in timed assessments; my learning support plan is attached.' },
      ]);
  }
}

const REQUEST_RESPONSES: Record<RequestStatus, readonly string[]> = {
  SUBMITTED: [],
  IN_REVIEW: ['Your request has been passed to the programme leader for review.', 'We are checking this with the finance office and will reply within five working days.'],
  APPROVED: ['Approved. The new arrangement is confirmed on your student record.', 'Approved by the programme leader; your tutor has been informed.'],
  REJECTED: ['Unfortunately we cannot approve this request; please see your personal tutor to discuss alternatives.', 'Rejected: the supporting evidence did not meet the policy requirements.'],
  COMPLETED: ['Completed. The document has been emailed to your academic address.', 'Done: your record has been updated.'],
};

// ---------------------------------------------------------------------------------------
// Planning: who studies what, where and when

interface CatalogUnit {
  spec: UnitSpec;
  row: UnitRow;
  criteria: Criterion[];
}

interface CatalogProgram {
  spec: ProgramSpec;
  row: ProgramRow;
  units: CatalogUnit[];
  intakes: Record<IntakeKind, Intake>;
  teachers: TeacherRow[];
}

interface Intake {
  program: CatalogProgram;
  kind: IntakeKind;
  start: Date;
  end: Date;
  groups: Group[];
  members: RegistrationPlan[];
}

interface Group {
  intake: Intake;
  label: string;
  classes: ClassPlan[];
}

interface ClassPlan {
  row: ClassRow;
  unit: CatalogUnit;
  teacher: TeacherRow;
  verifier: TeacherRow;
  assignmentId: string;
  assignmentName: string;
  /** When first-attempt marking happens. */
  markingDay: Date;
}

interface RegistrationPlan {
  program: CatalogProgram;
  kind: IntakeKind;
  status: RegistrationStatus;
  group?: Group;
}

interface StudentPlan {
  index: number;
  demo: boolean;
  random: Random;
  status: StudentStatus;
  registrations: RegistrationPlan[];
  /** Personal offset to grade scores: some students are stronger than others. */
  ability: number;
}

const GROUP_SIZE = 24;
const DEMO_INDEX = 42;
const TOMBSTONED_STUDENT_INDEX = 13;

interface SeedContext {
  tenantId: string;
  seed: number;
  today: Date;
  ids: Random;
  zoho: ZohoIds;
  rows: SeedRows;
  sequences: { registration: Counter; payment: Counter; enrollment: Counter; request: Counter; grade: Counter; receipt: Counter; moodleEnrollment: Counter; moodleGrade: Counter };
}

function createContext(tenantId: string, seed: number, today: Date): SeedContext {
  return {
    tenantId,
    seed,
    today,
    ids: createRandom(`campus-graph:ids:${tenantId}:${seed}`),
    zoho: new ZohoIds(),
    rows: {
      programs: [],
      units: [],
      teachers: [],
      classes: [],
      students: [],
      registrations: [],
      payments: [],
      enrollments: [],
      requests: [],
      grades: [],
      learningOutcomes: [],
    },
    sequences: {
      registration: new Counter(),
      payment: new Counter(),
      enrollment: new Counter(),
      request: new Counter(),
      grade: new Counter(),
      receipt: new Counter(),
      moodleEnrollment: new Counter(41_000),
      moodleGrade: new Counter(700_000),
    },
  };
}

function intakeDates(spec: ProgramSpec, kind: IntakeKind, today: Date): { start: Date; end: Date } {
  const start =
    kind === 'main'
      ? mondayOnOrBefore(addDays(today, -250))
      : kind === 'recent'
        ? mondayOnOrBefore(addDays(today, -75))
        : mondayOnOrBefore(addMonths(addDays(today, -340), -spec.durationMonths));
  return { start, end: addDays(addMonths(start, spec.durationMonths), -3) };
}

function buildCatalog(ctx: SeedContext): CatalogProgram[] {
  const random = createRandom(`campus-graph:catalog:${ctx.seed}`);
  return PROGRAMS.map((spec) => {
    const fields = { zohoId: ctx.zoho.next('programs'), name: spec.name, code: spec.code, level: spec.level, durationMonths: spec.durationMonths, status: 'Active' };
    const row: ProgramRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, addDays(ctx.today, -900), addDays(ctx.today, -200))), deletedAt: null };
    ctx.rows.programs.push(row);
    const program: CatalogProgram = { spec, row, units: [], intakes: {} as Record<IntakeKind, Intake>, teachers: [] };
    program.units = spec.units.map((unitSpec) => {
      const unitFields = { zohoId: ctx.zoho.next('units'), programId: row.id, code: unitSpec.code, name: unitSpec.name, credits: unitSpec.credits, level: spec.level };
      const unitRow: UnitRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...unitFields, ...syncStamp(random, unitFields, pastInstant(random, addDays(ctx.today, -900), addDays(ctx.today, -200))), deletedAt: null };
      ctx.rows.units.push(unitRow);
      return { spec: unitSpec, row: unitRow, criteria: criteriaFor(unitSpec) };
    });
    for (const kind of ['past', 'main', 'recent'] as const) {
      program.intakes[kind] = { program, kind, ...intakeDates(spec, kind, ctx.today), groups: [], members: [] };
    }
    return program;
  });
}

const WEIGHTED_NAME_GROUPS = NAME_GROUPS.map((group) => [group, group.weight] as const);

interface Person {
  firstName: string;
  lastName: string;
  heritage: NameGroup;
}

function pickPerson(random: Random, taken: Set<string>): Person {
  for (;;) {
    const heritage = random.weighted(WEIGHTED_NAME_GROUPS);
    const family = random.chance(MIXED_NAME_SHARE) ? random.weighted(WEIGHTED_NAME_GROUPS) : heritage;
    const firstName = random.pick(heritage.first);
    const lastName = random.pick(family.last);
    if (!taken.has(`${firstName} ${lastName}`)) return { firstName, lastName, heritage };
  }
}

function pickHome(random: Random, heritage: NameGroup): Place {
  return heritage.abroad.length > 0 && random.chance(STUDYING_FROM_ABROAD_SHARE) ? random.pick(heritage.abroad) : random.pick(UK_PLACES);
}

function emailLocalPart(firstName: string, lastName: string): string {
  const slug = (s: string) =>
    s
      .replace(/[łŁ]/g, 'l')
      .replace(/ı/g, 'i')
      .normalize('NFD')
      .replace(/[^A-Za-z0-9]/g, '')
      .toLowerCase();
  return `${slug(firstName)}.${slug(lastName)}`;
}

function uniqueEmail(localPart: string, taken: Set<string>, domain = 'college.example'): string {
  let email = `${localPart}@${domain}`;
  for (let n = 2; taken.has(email); n++) email = `${localPart}${n}@${domain}`;
  taken.add(email);
  return email;
}

function planStudent(index: number, catalog: CatalogProgram[], seed: number): StudentPlan {
  const demo = index === DEMO_INDEX;
  const random = createRandom(demo ? 'campus-graph:demo-student' : `campus-graph:student:${seed}:${index}`);
  const byCode = (code: string) => catalog.find((p) => p.spec.code === code)!;
  if (demo) {
    return {
      index,
      demo,
      random,
      status: 'ACTIVE',
      ability: 6,
      registrations: [
        { program: byCode('HNC-COMP'), kind: 'main', status: 'Active' },
        { program: byCode('L3-COMP'), kind: 'past', status: 'Completed' },
      ],
    };
  }
  const status = random.weighted<StudentStatus>([
    ['ACTIVE', 84],
    ['INACTIVE', 6],
    ['SUSPENDED', 3],
    ['GRADUATED', 7],
  ]);
  const program = random.weighted(catalog.map((p) => [p, p.spec.weight] as const));
  const ability = random.normal(0, 9);
  const registrations: RegistrationPlan[] = [];
  switch (status) {
    case 'GRADUATED':
      registrations.push({ program, kind: 'past', status: 'Completed' });
      break;
    case 'INACTIVE':
      registrations.push({ program, kind: random.chance(0.7) ? 'main' : 'past', status: 'Withdrawn' });
      break;
    case 'SUSPENDED':
      registrations.push({ program, kind: 'main', status: 'Suspended' });
      break;
    default:
      registrations.push({ program, kind: random.chance(0.7) ? 'main' : 'recent', status: 'Active' });
      if (random.chance(0.22)) registrations.push(previousRegistration(random, program, catalog));
  }
  return { index, demo, random, status, ability, registrations };
}

function previousRegistration(random: Random, current: CatalogProgram, catalog: CatalogProgram[]): RegistrationPlan {
  const feeder = catalog.find((p) => p.spec.code === current.spec.progressesFrom);
  if (feeder && random.chance(0.75)) return { program: feeder, kind: 'past', status: 'Completed' };
  const others = catalog.filter((p) => p !== current);
  return { program: random.pick(others), kind: 'past', status: 'Withdrawn' };
}

function assignGroups(catalog: CatalogProgram[], plans: StudentPlan[]): void {
  for (const plan of plans) {
    for (const registration of plan.registrations) registration.program.intakes[registration.kind].members.push(registration);
  }
  for (const program of catalog) {
    for (const intake of Object.values(program.intakes)) {
      const groupCount = Math.max(1, Math.ceil(intake.members.length / GROUP_SIZE));
      const cohort = `${intake.start.getUTCFullYear()}-${pad(intake.start.getUTCMonth() + 1, 2)}`;
      intake.groups = Array.from({ length: groupCount }, (_, g) => ({ intake, label: `${program.spec.code} ${cohort} Group ${g + 1}`, classes: [] }));
      intake.members.forEach((registration, i) => {
        registration.group = intake.groups[i % groupCount]!;
      });
    }
  }
}

function buildTeachers(ctx: SeedContext, catalog: CatalogProgram[]): void {
  const random = createRandom(`campus-graph:teachers:${ctx.seed}`);
  const takenNames = new Set<string>([DEMO_STUDENT.fullName]);
  const takenEmails = new Set<string>();
  let number = 0;
  for (const program of catalog) {
    const classCount = Object.values(program.intakes).reduce((n, intake) => n + intake.groups.length, 0) * program.units.length;
    const teacherCount = Math.max(3, Math.ceil(classCount / 10));
    for (let t = 0; t < teacherCount; t++) {
      number++;
      const { firstName, lastName } = pickPerson(random, takenNames);
      const fullName = `${firstName} ${lastName}`;
      takenNames.add(fullName);
      const email = uniqueEmail(emailLocalPart(firstName.slice(0, 1), lastName), takenEmails, 'staff.college.example');
      const fields = { zohoId: ctx.zoho.next('teachers'), moodleUserId: String(100_000 + number), name: `TCH-${pad(number, 4)}`, fullName, email, status: 'Active' };
      const row: TeacherRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, addDays(ctx.today, -700), ctx.today)), deletedAt: null };
      ctx.rows.teachers.push(row);
      program.teachers.push(row);
    }
  }
}

function classStatus(start: Date, end: Date, today: Date): string {
  if (end < today) return 'Completed';
  return start > today ? 'Scheduled' : 'Active';
}

function buildClasses(ctx: SeedContext, catalog: CatalogProgram[]): void {
  const random = createRandom(`campus-graph:classes:${ctx.seed}`);
  const moodleCourse = new Counter(2_000);
  const assignment = new Counter(30_000);
  for (const program of catalog) {
    let taught = 0;
    const terms = program.spec.durationMonths / 4;
    for (const intake of Object.values(program.intakes)) {
      const termDays = Math.floor(daysBetween(intake.start, intake.end) / terms);
      intake.groups.forEach((group, g) => {
        group.classes = program.units.map((unit, u) => {
          const term = Math.floor((u * terms) / program.units.length);
          const startDate = addDays(intake.start, term * termDays);
          const endDate = addDays(startDate, termDays - 7);
          const teacher = program.teachers[taught++ % program.teachers.length]!;
          const verifier = program.teachers[(taught + 1) % program.teachers.length]!;
          const schedule = `${random.pick(SCHEDULE_SLOTS)}, Room ${random.pick(ROOMS)}`;
          const fields = {
            zohoId: ctx.zoho.next('classes'),
            moodleCourseId: String(moodleCourse.next()),
            name: `${unit.spec.name} (${group.label})`,
            code: `${unit.spec.code}-${pad(intake.start.getUTCFullYear() % 100, 2)}${pad(intake.start.getUTCMonth() + 1, 2)}-G${g + 1}`,
            unitId: unit.row.id,
            programId: program.row.id,
            teacherId: teacher.id,
            startDate,
            endDate,
            schedule,
            status: classStatus(startDate, endDate, ctx.today),
          };
          const row: ClassRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, addDays(intake.start, -30), ctx.today)), deletedAt: null };
          ctx.rows.classes.push(row);
          return {
            row,
            unit,
            teacher,
            verifier,
            assignmentId: String(assignment.next()),
            assignmentName: `${unit.spec.code} Assignment 1: ${unit.spec.name}`,
            markingDay: addDays(endDate, -random.int(4, 14)),
          };
        });
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Per-student rows

interface StudentRecord {
  row: StudentRow;
  registrations: { plan: RegistrationPlan; row: RegistrationRow; withdrawnOn: Date | null }[];
}

function buildStudent(ctx: SeedContext, plan: StudentPlan, takenNames: Set<string>, takenEmails: Set<string>): StudentRecord {
  const { random } = plan;
  const picked = plan.demo ? null : pickPerson(random, takenNames);
  const person = picked ?? { firstName: DEMO_STUDENT.firstName, lastName: DEMO_STUDENT.lastName };
  const place = picked ? pickHome(random, picked.heritage) : DEMO_HOME;
  const email = picked ? uniqueEmail(emailLocalPart(picked.firstName, picked.lastName), takenEmails) : DEMO_STUDENT.email;
  const firstRegistered = plan.registrations.reduce((earliest, r) => (r.group!.intake.start < earliest ? r.group!.intake.start : earliest), ctx.today);
  const fields = {
    zohoId: ctx.zoho.next('students'),
    moodleUserId: pad(plan.index, 5),
    studentNumber: `STU-${pad(plan.index, 4)}`,
    fullName: `${person.firstName} ${person.lastName}`,
    firstName: person.firstName,
    lastName: person.lastName,
    email,
    phone: place.phone(random),
    city: place.city,
    country: place.country,
    status: plan.status,
  };
  const row: StudentRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, addDays(firstRegistered, -60), ctx.today)), deletedAt: null };
  ctx.rows.students.push(row);
  const registrations = plan.registrations.map((registrationPlan) => buildRegistration(ctx, plan, row, registrationPlan));
  return { row, registrations };
}

/** Fees after any bursary; the demo student's Level 3 was funded (16–18), her HNC is full price. */
function feesFor(random: Random, plan: StudentPlan, registration: RegistrationPlan): number {
  if (plan.demo) return registration.program.spec.level === 'Level 3' ? 0 : registration.program.spec.feeCents;
  const discount = random.weighted([
    [0, 75],
    [0.1, 15],
    [0.25, 10],
  ] as const);
  return Math.round((registration.program.spec.feeCents * (1 - discount)) / 50) * 50;
}

function withdrawalDay(random: Random, intake: Intake, today: Date): Date {
  const latest = Math.min(daysBetween(intake.start, intake.end) - 30, daysBetween(intake.start, today) - 5);
  return addDays(intake.start, random.int(20, Math.max(21, latest)));
}

function buildRegistration(ctx: SeedContext, plan: StudentPlan, student: StudentRow, registration: RegistrationPlan) {
  const { random } = plan;
  const intake = registration.group!.intake;
  const fields = {
    zohoId: ctx.zoho.next('registrations'),
    name: `REG-${pad(ctx.sequences.registration.next(), 6)}`,
    studentId: student.id,
    programId: registration.program.row.id,
    status: registration.status,
    registrationDate: addDays(intake.start, -random.int(14, 75)),
    startDate: intake.start,
    endDate: intake.end,
    totalFees: formatCents(feesFor(random, plan, registration)),
    currency: 'GBP',
  };
  const withdrawnOn = registration.status === 'Withdrawn' ? withdrawalDay(random, intake, ctx.today) : null;
  const lastChange = withdrawnOn ?? (registration.status === 'Completed' ? intake.end : fields.registrationDate);
  const row: RegistrationRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, lastChange, ctx.today)), deletedAt: null };
  ctx.rows.registrations.push(row);
  return { plan: registration, row, withdrawnOn };
}

function enrollmentStatus(registration: RegistrationRecord, classRow: ClassRow, today: Date): EnrollmentStatus {
  switch (registration.plan.status) {
    case 'Completed':
      return 'Completed';
    case 'Withdrawn':
      return classRow.endDate < registration.withdrawnOn! ? 'Completed' : 'Withdrawn';
    default:
      return classRow.endDate < today ? 'Completed' : 'Active';
  }
}

type RegistrationRecord = StudentRecord['registrations'][number];

interface EnrollmentPlan {
  classPlan: ClassPlan;
  status: EnrollmentStatus;
  registration: RegistrationRecord;
}

/** Classes a registration enrols in: all of its group's, except those starting after a withdrawal. */
function classesOf(registration: RegistrationRecord): ClassPlan[] {
  const classes = registration.plan.group!.classes;
  const withdrawnOn = registration.withdrawnOn;
  return withdrawnOn ? classes.filter((c) => c.row.startDate <= withdrawnOn) : classes;
}

function buildEnrollments(ctx: SeedContext, plan: StudentPlan, record: StudentRecord): EnrollmentPlan[] {
  const { random } = plan;
  return record.registrations.flatMap((registration) =>
    classesOf(registration).map((classPlan) => {
      const status = enrollmentStatus(registration, classPlan.row, ctx.today);
      const fields = {
        zohoId: ctx.zoho.next('enrollments'),
        moodleEnrollmentId: String(ctx.sequences.moodleEnrollment.next()),
        name: `ENR-${pad(ctx.sequences.enrollment.next(), 6)}`,
        studentId: record.row.id,
        classId: classPlan.row.id,
        status,
        startDate: classPlan.row.startDate,
        endDate: status === 'Withdrawn' ? registration.withdrawnOn : classPlan.row.endDate,
      };
      const row: EnrollmentRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, addDays(classPlan.row.startDate, -20), ctx.today)), deletedAt: null };
      ctx.rows.enrollments.push(row);
      return { classPlan, status, registration };
    }),
  );
}

function btecGradeFor(score: number): BtecGrade {
  if (score >= 70) return 'DISTINCTION';
  if (score >= 60) return 'MERIT';
  if (score >= 40) return 'PASS';
  return 'REFER';
}

function roundToHalf(value: number): number {
  return Math.round(Math.min(100, Math.max(0, value)) * 2) / 2;
}

/** The demo student's scores, in the order her grades are generated. */
const DEMO_SCORES: readonly number[] = [82.5, 67, 35.5, 74, 55, 61, 58.5, 72, 64.5, 49, 66, 77.5, 45, 60, 68.5, 52, 71];

interface GradeDraft {
  classPlan: ClassPlan;
  score: number;
  attemptNumber: number;
  gradedAt: Date;
  withVerifier: boolean;
}

function draftGrade(ctx: SeedContext, plan: StudentPlan, enrollment: EnrollmentPlan, demoScores: number[]): GradeDraft | null {
  const { random } = plan;
  const { classPlan, status } = enrollment;
  if (status === 'Withdrawn' || classPlan.markingDay >= ctx.today) return null;
  if (!plan.demo && status === 'Active' && random.chance(0.12)) return null;
  const gradedAt = atWorkingHours(random, classPlan.markingDay);
  let score = plan.demo ? demoScores.shift() ?? 62 : roundToHalf(random.normal(57 + plan.ability, 13));
  let attemptNumber = 1;
  const resubmissionDay = addDays(classPlan.markingDay, random.int(18, 28));
  const mustPass = enrollment.registration.plan.status === 'Completed';
  if (score < 40 && !plan.demo && (mustPass || (resubmissionDay < ctx.today && random.chance(0.6)))) {
    score = roundToHalf(random.int(40, 52) + random.next());
    attemptNumber = 2;
  }
  return {
    classPlan,
    score,
    attemptNumber,
    gradedAt: attemptNumber === 2 ? atWorkingHours(random, resubmissionDay < ctx.today ? resubmissionDay : addDays(ctx.today, -1)) : gradedAt,
    withVerifier: random.chance(0.35),
  };
}

function buildGrade(ctx: SeedContext, random: Random, student: StudentRow, draft: GradeDraft): GradeRow {
  const { classPlan } = draft;
  const btecGrade = btecGradeFor(draft.score);
  const fields = {
    zohoId: ctx.zoho.next('grades'),
    moodleGradeId: String(ctx.sequences.moodleGrade.next()),
    compositeKey: `${student.moodleUserId}_${classPlan.assignmentId}`,
    name: `GRD-${pad(ctx.sequences.grade.next(), 6)}`,
    studentId: student.id,
    unitId: classPlan.unit.row.id,
    classId: classPlan.row.id,
    assignmentName: classPlan.assignmentName,
    score: draft.score,
    btecGrade,
    attemptNumber: draft.attemptNumber,
    gradedAt: draft.gradedAt,
    feedback: random.pick(GRADE_FEEDBACK[btecGrade]),
    graderName: classPlan.teacher.fullName,
    graderMoodleId: classPlan.teacher.moodleUserId,
    internalVerifierName: draft.withVerifier ? classPlan.verifier.fullName : null,
    internalVerifierMoodleId: draft.withVerifier ? classPlan.verifier.moodleUserId : null,
    gradeStatus: draft.withVerifier ? 'Verified' : 'Graded',
  };
  const updatedAt = new Date(draft.gradedAt.getTime() + random.int(60, 3 * 86_400) * 1000);
  const row: GradeRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, updatedAt < ctx.today ? updatedAt : pastInstant(random, draft.gradedAt, ctx.today)), deletedAt: null };
  ctx.rows.grades.push(row);
  buildLearningOutcomes(ctx, random, row, classPlan.unit.criteria);
  return row;
}

function criterionAchieved(band: Criterion['band'], grade: BtecGrade, random: Random): boolean {
  switch (grade) {
    case 'DISTINCTION':
      return true;
    case 'MERIT':
      return band !== 'D';
    case 'PASS':
      return band === 'P' || (band === 'M' && random.chance(0.3));
    default:
      return band === 'P' && random.chance(0.5);
  }
}

function buildLearningOutcomes(ctx: SeedContext, random: Random, grade: GradeRow, criteria: Criterion[]): void {
  const count = random.int(3, 5);
  const firstPass = criteria.filter((c) => c.band === 'P')[0]!;
  const others = criteria.filter((c) => c !== firstPass);
  const chosen = new Set<Criterion>([firstPass]);
  while (chosen.size < count) chosen.add(random.pick(others));
  const ordered = criteria.filter((c) => chosen.has(c));
  const achieved = ordered.map((c) => criterionAchieved(c.band, grade.btecGrade, random));
  if (grade.btecGrade === 'REFER') achieved[ordered.indexOf(firstPass)] = false;
  ordered.forEach((criterion, position) => {
    ctx.rows.learningOutcomes.push({
      id: ctx.ids.uuid(),
      gradeId: grade.id,
      position,
      code: criterion.code,
      title: criterion.title,
      definition: criterion.definition,
      score: achieved[position] ? 'Achieved' : 'Not yet achieved',
      feedback: achieved[position]
        ? random.pick(['Criterion met with clear evidence.', 'Well evidenced.', 'Met: good use of examples.'])
        : random.pick(['Evidence for this criterion is missing.', 'Not yet met: see the annotated brief.', 'Partially addressed; expand your explanation.']),
      achieved: achieved[position]!,
    });
  });
}

// ---------------------------------------------------------------------------------------
// Payments

interface PaymentDraft {
  amountCents: number;
  status: PaymentStatus;
  dueDate: Date;
  paidAt: Date | null;
  method: string | null;
  withReceipt: boolean;
}

function installmentCount(random: Random, durationMonths: number): number {
  return random.weighted([
    [1, 15],
    [3, 40],
    [durationMonths === 24 ? 8 : 4, 30],
    [durationMonths === 24 ? 12 : 6, 15],
  ] as const);
}

function settle(random: Random, dueDate: Date, today: Date, latePayer: boolean): Pick<PaymentDraft, 'status' | 'paidAt' | 'method' | 'withReceipt'> {
  const method = random.weighted(PAYMENT_METHODS);
  if (dueDate >= today) {
    return random.chance(0.06) ? { status: 'PAID', paidAt: addDays(today, -random.int(1, 10)), method, withReceipt: true } : { status: 'PENDING', paidAt: null, method: null, withReceipt: false };
  }
  const roll = random.next();
  const overdueShare = latePayer ? 0.55 : 0.07;
  if (roll < overdueShare) {
    const recentlyDue = daysBetween(dueDate, today) <= 14;
    return { status: recentlyDue && random.chance(0.6) ? 'PENDING' : 'OVERDUE', paidAt: null, method: null, withReceipt: false };
  }
  if (roll < overdueShare + 0.03 && daysBetween(dueDate, today) <= 30) return { status: 'PENDING', paidAt: null, method: null, withReceipt: false };
  const paidAt = addDays(dueDate, random.int(-12, 9));
  return { status: 'PAID', paidAt: paidAt < today ? paidAt : addDays(today, -1), method, withReceipt: true };
}

function planPayments(random: Random, registration: RegistrationRow, program: ProgramSpec, withdrawnOn: Date | null, today: Date): PaymentDraft[] {
  const total = parseCents(registration.totalFees);
  if (total === 0) return [];
  const start = registration.startDate as Date;
  const count = installmentCount(random, program.durationMonths);
  const latePayer = registration.status === 'Suspended' || random.chance(0.06);
  const drafts = splitCents(total, count).map((amountCents, k): PaymentDraft => {
    const dueDate = addDays(addMonths(start, Math.floor((k * program.durationMonths) / count)), -14);
    if (registration.status === 'Completed') {
      return { amountCents, dueDate, paidAt: addDays(dueDate, random.int(-10, 5)), status: 'PAID', method: random.weighted(PAYMENT_METHODS), withReceipt: true };
    }
    if (withdrawnOn && dueDate > withdrawnOn) return { amountCents, dueDate, paidAt: null, status: 'CANCELLED', method: null, withReceipt: false };
    return { amountCents, dueDate, ...settle(random, dueDate, today, latePayer) };
  });
  const paid = drafts.filter((d) => d.status === 'PAID');
  if (paid.length > 0 && random.chance(0.05)) {
    const duplicate = random.pick(paid);
    drafts.push({ ...duplicate, status: 'REFUNDED', paidAt: duplicate.paidAt, method: 'Credit Card', withReceipt: true });
  }
  if (random.chance(0.04)) {
    const lateFeeDue = addDays(today, -random.int(10, 120));
    if (lateFeeDue > start) drafts.push({ amountCents: 7_500, dueDate: lateFeeDue, paidAt: null, status: 'CANCELLED', method: null, withReceipt: false });
  }
  return drafts;
}

/** Lina Haddad's hand-written plan: every status, one of each interesting case. */
function demoPayments(registration: RegistrationRow, today: Date): PaymentDraft[] {
  const start = registration.startDate as Date;
  const instalment = splitCents(parseCents(registration.totalFees), 5)[0]!;
  return [
    { amountCents: instalment, dueDate: addDays(start, -14), paidAt: addDays(start, -16), status: 'PAID', method: 'Debit Card', withReceipt: true },
    { amountCents: instalment, dueDate: addDays(start, 60), paidAt: addDays(start, 58), status: 'PAID', method: 'Direct Debit', withReceipt: true },
    { amountCents: instalment, dueDate: addDays(start, 60), paidAt: addDays(start, 59), status: 'REFUNDED', method: 'Credit Card', withReceipt: true },
    { amountCents: instalment, dueDate: addDays(today, -40), paidAt: null, status: 'OVERDUE', method: null, withReceipt: false },
    { amountCents: 7_500, dueDate: addDays(today, -30), paidAt: null, status: 'CANCELLED', method: null, withReceipt: false },
    { amountCents: instalment, dueDate: addDays(today, -5), paidAt: null, status: 'PENDING', method: null, withReceipt: false },
    { amountCents: parseCents(registration.totalFees) - 4 * instalment, dueDate: addDays(today, 25), paidAt: null, status: 'PENDING', method: null, withReceipt: false },
  ];
}

function buildPayment(ctx: SeedContext, random: Random, student: StudentRow, registration: RegistrationRow, draft: PaymentDraft): PaymentRow {
  const fields = {
    zohoId: ctx.zoho.next('payments'),
    name: `PAY-${pad(ctx.sequences.payment.next(), 6)}`,
    studentId: student.id,
    registrationId: registration.id,
    amount: formatCents(draft.amountCents),
    currency: 'GBP',
    status: draft.status,
    dueDate: draft.dueDate,
    paidAt: draft.paidAt,
    method: draft.method,
    reference: draft.withReceipt ? `RCPT-${(draft.paidAt ?? draft.dueDate).getUTCFullYear()}-${pad(ctx.sequences.receipt.next(), 6)}` : null,
  };
  const lastEvent = draft.paidAt ?? (draft.dueDate < ctx.today ? draft.dueDate : addDays(registration.registrationDate as Date, 1));
  const row: PaymentRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, pastInstant(random, lastEvent, ctx.today)), deletedAt: null };
  ctx.rows.payments.push(row);
  return row;
}

// ---------------------------------------------------------------------------------------
// Requests

interface RequestDraft {
  type: string;
  status: RequestStatus;
  submittedAt: Date;
  text: RequestText;
}

function requestStatusFor(random: Random, ageDays: number): RequestStatus {
  if (ageDays < 3) return random.weighted<RequestStatus>([['SUBMITTED', 70], ['IN_REVIEW', 30]]);
  if (ageDays < 14) return random.weighted<RequestStatus>([['SUBMITTED', 10], ['IN_REVIEW', 40], ['APPROVED', 20], ['REJECTED', 10], ['COMPLETED', 20]]);
  return random.weighted<RequestStatus>([['SUBMITTED', 4], ['IN_REVIEW', 8], ['APPROVED', 30], ['REJECTED', 15], ['COMPLETED', 43]]);
}

function draftRequests(ctx: SeedContext, plan: StudentPlan, record: StudentRecord): RequestDraft[] {
  const { random } = plan;
  const current = record.registrations[0]!;
  const count = random.weighted([[0, 35], [1, 35], [2, 20], [3, 10]] as const);
  const earliest = current.row.registrationDate as Date;
  const latest = current.withdrawnOn ?? (current.plan.status === 'Completed' ? addDays(current.row.endDate as Date, 120) : ctx.today);
  const context = { unitName: random.pick(current.plan.program.units).spec.name, programName: current.plan.program.spec.name };
  return Array.from({ length: count }, () => {
    const type = plan.status === 'GRADUATED' ? random.pick(['Transcript', 'Certificate', 'Other']) : random.weighted(REQUEST_TYPES);
    const submittedAt = pastInstant(random, earliest, latest < ctx.today ? latest : ctx.today);
    return { type, submittedAt, status: requestStatusFor(random, daysBetween(submittedAt, ctx.today)), text: requestText(random, type, context) };
  });
}

function demoRequests(ctx: SeedContext, random: Random, record: StudentRecord): RequestDraft[] {
  const context = { unitName: 'Database Design and Development', programName: record.registrations[0]!.plan.program.spec.name };
  const at = (daysAgo: number) => atWorkingHours(random, addDays(ctx.today, -daysAgo));
  return [
    { type: 'Transcript', status: 'COMPLETED', submittedAt: at(150), text: requestText(random, 'Transcript', context) },
    { type: 'Program Change', status: 'REJECTED', submittedAt: at(90), text: { subject: 'Transfer to BTEC Level 5 Higher National Diploma in Business', description: 'I would like to move to the HND in Business from next term.' } },
    { type: 'Assessment Extension', status: 'APPROVED', submittedAt: at(20), text: requestText(random, 'Assessment Extension', context) },
    { type: 'Fee Installment', status: 'IN_REVIEW', submittedAt: at(6), text: { subject: 'Spread remaining fees over monthly instalments', description: 'One instalment is overdue because my student finance was delayed. Could the rest be split into monthly payments?' } },
    { type: 'Certificate', status: 'SUBMITTED', submittedAt: at(1), text: { subject: 'Replacement Level 3 certificate', description: 'My BTEC Level 3 certificate was damaged when I moved house. Could a replacement be issued?' } },
  ];
}

function buildRequest(ctx: SeedContext, random: Random, student: StudentRow, draft: RequestDraft): RequestRow {
  const resolved = draft.status === 'APPROVED' || draft.status === 'REJECTED' || draft.status === 'COMPLETED';
  const resolvedAt = resolved ? new Date(Math.min(draft.submittedAt.getTime() + random.int(1, 12) * DAY_MS + random.int(0, 7200_000), ctx.today.getTime() - 1_800_000)) : null;
  const responses = REQUEST_RESPONSES[draft.status];
  const fields = {
    zohoId: ctx.zoho.next('requests'),
    name: `REQ-${pad(ctx.sequences.request.next(), 6)}`,
    studentId: student.id,
    type: draft.type,
    subject: draft.text.subject,
    description: draft.text.description,
    status: draft.status,
    submittedAt: draft.submittedAt,
    resolvedAt,
    response: responses.length > 0 ? random.pick(responses) : null,
  };
  const updatedAt = resolvedAt ?? (draft.status === 'IN_REVIEW' ? pastInstant(random, draft.submittedAt, ctx.today) : draft.submittedAt);
  const row: RequestRow = { id: ctx.ids.uuid(), tenantId: ctx.tenantId, ...fields, ...syncStamp(random, fields, updatedAt), deletedAt: null };
  ctx.rows.requests.push(row);
  return row;
}

// ---------------------------------------------------------------------------------------
// One student, everything

function buildStudentRecords(ctx: SeedContext, plan: StudentPlan, takenNames: Set<string>, takenEmails: Set<string>): StudentRecord {
  const record = buildStudent(ctx, plan, takenNames, takenEmails);
  const { random } = plan;
  const enrollments = buildEnrollments(ctx, plan, record);
  const demoScores = [...DEMO_SCORES];
  for (const enrollment of enrollments) {
    const draft = draftGrade(ctx, plan, enrollment, demoScores);
    if (draft) buildGrade(ctx, random, record.row, draft);
  }
  for (const registration of record.registrations) {
    const drafts = plan.demo ? (registration.plan.status === 'Active' ? demoPayments(registration.row, ctx.today) : []) : planPayments(random, registration.row, registration.plan.program.spec, registration.withdrawnOn, ctx.today);
    for (const draft of drafts) buildPayment(ctx, random, record.row, registration.row, draft);
  }
  const requests = plan.demo ? demoRequests(ctx, random, record) : draftRequests(ctx, plan, record);
  for (const draft of requests) buildRequest(ctx, random, record.row, draft);
  if (plan.demo) addDemoTombstones(ctx, random, record, enrollments);
  return record;
}

/** Rows deleted in Zoho: a paid duplicate, a duplicate request, a grade entered before the unit was marked. */
function addDemoTombstones(ctx: SeedContext, random: Random, record: StudentRecord, enrollments: EnrollmentPlan[]): void {
  const active = record.registrations.find((r) => r.plan.status === 'Active')!;
  const deletedAt = (daysAgo: number) => atWorkingHours(random, addDays(ctx.today, -daysAgo));
  const payment = buildPayment(ctx, random, record.row, active.row, {
    amountCents: splitCents(parseCents(active.row.totalFees), 5)[0]!,
    dueDate: addDays(ctx.today, -40),
    paidAt: addDays(ctx.today, -38),
    status: 'PAID',
    method: 'Bank Transfer',
    withReceipt: true,
  });
  tombstone(payment, deletedAt(30));
  const request = buildRequest(ctx, random, record.row, { type: 'Other', status: 'SUBMITTED', submittedAt: atWorkingHours(random, addDays(ctx.today, -2)), text: { subject: 'Duplicate: replacement certificate', description: 'Sent twice by mistake.' } });
  tombstone(request, deletedAt(1));
  const inProgress = enrollments.find((e) => e.registration === active && e.status === 'Active')!;
  const grade = buildGrade(ctx, random, record.row, {
    classPlan: inProgress.classPlan,
    score: 88,
    attemptNumber: 1,
    gradedAt: atWorkingHours(random, addDays(ctx.today, -9)),
    withVerifier: false,
  });
  tombstone(grade, deletedAt(8));
}

function tombstone(row: { deletedAt?: Date | string | null; sourceUpdatedAt?: Date | string | null; syncedAt?: Date | string }, at: Date): void {
  row.deletedAt = at;
  row.sourceUpdatedAt = at;
  row.syncedAt = new Date(at.getTime() + 2_500);
}

/** A student deleted in Zoho: the student and every row of theirs carries the tombstone. */
function tombstoneWholeStudent(ctx: SeedContext, student: StudentRow): void {
  const at = atWorkingHours(createRandom(`campus-graph:tombstone:${ctx.seed}`), addDays(ctx.today, -12));
  tombstone(student, at);
  for (const table of ['registrations', 'payments', 'enrollments', 'requests', 'grades'] as const) {
    for (const row of ctx.rows[table]) if (row.studentId === student.id) tombstone(row, at);
  }
}

/** A paid instalment of another student deleted as a duplicate. */
function tombstoneOnePayment(ctx: SeedContext, excluded: Set<string>): void {
  const payment = ctx.rows.payments.find((p) => p.status === 'PAID' && !excluded.has(p.studentId) && p.deletedAt === null);
  if (payment) tombstone(payment, new Date(Math.min((payment.syncedAt as Date).getTime() + 3 * DAY_MS, ctx.today.getTime() - 3_600_000)));
}

// ---------------------------------------------------------------------------------------
// Summary

function demoFinance(ctx: SeedContext, studentId: string): DemoFinance {
  const fees = ctx.rows.registrations.filter((r) => r.studentId === studentId && r.deletedAt === null && r.status === 'Active').reduce((sum, r) => sum + parseCents(r.totalFees), 0);
  const payments = ctx.rows.payments.filter((p) => p.studentId === studentId && p.deletedAt === null);
  const paid = payments.filter((p) => p.status === 'PAID').reduce((sum, p) => sum + parseCents(p.amount), 0);
  const overdue = payments.filter((p) => p.status === 'OVERDUE' || (p.status === 'PENDING' && p.dueDate < ctx.today)).reduce((sum, p) => sum + parseCents(p.amount), 0);
  const next = payments.filter((p) => p.status === 'PENDING' && p.dueDate >= ctx.today).sort((a, b) => a.dueDate.getTime() - b.dueDate.getTime())[0];
  return {
    currency: 'GBP',
    totalFees: formatCents(fees),
    totalPaid: formatCents(paid),
    balance: formatCents(fees - paid),
    overdueAmount: formatCents(overdue),
    nextDue: next ? { amount: next.amount, dueDate: isoDay(next.dueDate) } : null,
  };
}

function demoProgress(ctx: SeedContext, studentId: string): { unitsTotal: number; unitsCompleted: number } {
  const active = ctx.rows.registrations.find((r) => r.studentId === studentId && r.status === 'Active')!;
  const unitIds = new Set(ctx.rows.units.filter((u) => u.programId === active.programId).map((u) => u.id));
  const passed = new Set(ctx.rows.grades.filter((g) => g.studentId === studentId && g.deletedAt === null && g.btecGrade !== 'REFER' && unitIds.has(g.unitId)).map((g) => g.unitId));
  return { unitsTotal: unitIds.size, unitsCompleted: passed.size };
}

function countRows(rows: SeedRows, deletedOnly: boolean): Record<SeedTable, number> {
  const counts = {} as Record<SeedTable, number>;
  for (const table of SEED_TABLES) {
    const list = rows[table] as { deletedAt?: unknown }[];
    counts[table] = deletedOnly ? list.filter((r) => r.deletedAt != null).length : list.length;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------
// Writing

/** Rows per INSERT: each batch is one statement with a single JSON parameter. */
const BATCH_ROWS = 4_000;
const PARALLEL_BATCHES = 4;

/** The Postgres table each SeedRows list goes to (Prisma model names, unmapped). */
const TABLE_NAMES: Record<SeedTable, string> = {
  programs: 'Program',
  units: 'Unit',
  teachers: 'Teacher',
  classes: 'Class',
  students: 'Student',
  registrations: 'Registration',
  payments: 'Payment',
  enrollments: 'Enrollment',
  requests: 'StudentRequest',
  grades: 'Grade',
  learningOutcomes: 'LearningOutcome',
};

function chunk<T>(rows: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/**
 * Inserts rows as one statement per batch: Postgres expands a JSON array into typed rows of
 * the table (json_populate_recordset), so a batch costs one bound parameter and no per-row
 * work in the Prisma client.
 */
async function insertTable(db: Db, table: SeedTable, rows: readonly object[], onBatch: (count: number) => void): Promise<void> {
  const sql = `INSERT INTO "${TABLE_NAMES[table]}" SELECT * FROM json_populate_recordset(NULL::"${TABLE_NAMES[table]}", $1::json)`;
  const batches = chunk(rows, BATCH_ROWS);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++]!;
      await db.$executeRawUnsafe(sql, JSON.stringify(batch));
      onBatch(batch.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_BATCHES, batches.length) }, worker));
}

/** Tables written together; each stage only references tables of earlier stages. */
const WRITE_STAGES: readonly (readonly SeedTable[])[] = [
  ['programs', 'teachers', 'students'],
  ['units'],
  ['classes'],
  ['registrations', 'enrollments', 'requests', 'grades'],
  ['payments', 'learningOutcomes'],
];

async function writeRows(db: Db, rows: SeedRows, onProgress?: (done: number, total: number) => void): Promise<void> {
  const total = SEED_TABLES.reduce((n, table) => n + rows[table].length, 0);
  let done = 0;
  const onBatch = (count: number) => {
    done += count;
    onProgress?.(done, total);
  };
  for (const stage of WRITE_STAGES) await Promise.all(stage.map((table) => insertTable(db, table, rows[table], onBatch)));
}

// ---------------------------------------------------------------------------------------
// Entry points

/**
 * Generates the whole college in memory. Pure and deterministic: the same tenant, seed,
 * student count and `today` give the same rows (ids included).
 */
function generateCollege(tenantId: string, students: number, seed: number, today: Date): { ctx: SeedContext; demo: StudentRecord; tombstoned: StudentRecord | null } {
  const ctx = createContext(tenantId, seed, today);
  const catalog = buildCatalog(ctx);
  const indices = Array.from({ length: students }, (_, i) => i + 1);
  if (!indices.includes(DEMO_INDEX)) indices.push(DEMO_INDEX);
  const plans = indices.map((index) => planStudent(index, catalog, seed));
  assignGroups(catalog, plans);
  buildTeachers(ctx, catalog);
  buildClasses(ctx, catalog);

  const takenNames = new Set<string>([DEMO_STUDENT.fullName]);
  const takenEmails = new Set<string>([DEMO_STUDENT.email]);
  const records = plans.map((plan) => buildStudentRecords(ctx, plan, takenNames, takenEmails));
  const demo = records.find((r) => r.row.moodleUserId === DEMO_STUDENT.moodleUserId)!;
  const tombstoneIndex = students >= TOMBSTONED_STUDENT_INDEX ? TOMBSTONED_STUDENT_INDEX : students > 1 ? 1 : null;
  const tombstoned = tombstoneIndex === null ? null : records[tombstoneIndex - 1]!;
  if (tombstoned) tombstoneWholeStudent(ctx, tombstoned.row);
  tombstoneOnePayment(ctx, new Set([demo.row.id, ...(tombstoned ? [tombstoned.row.id] : [])]));
  return { ctx, demo, tombstoned };
}

/**
 * Loads a realistic, deterministic BTEC college into the tenant `options.tenantId` (whose
 * Tenant row must exist and hold no college rows yet): programmes, units, teachers, classes,
 * students with registrations, payments, enrolments, requests and graded assignments with
 * learning outcomes, plus a few tombstoned rows. Always contains the demo student
 * STU-0042 / Moodle 00042, Lina Haddad, with every dashboard section filled.
 * Rows are written in batches of one INSERT each; ids are derived from the seed and tenant.
 */
export async function seedCollege(db: Db, options: SeedOptions): Promise<SeedSummary> {
  if (!Number.isInteger(options.students) || options.students < 1) throw new RangeError(`students must be a positive integer, got ${options.students}`);
  const seed = options.seed ?? 1;
  const today = utcDay(options.today ?? new Date());
  const { ctx, demo, tombstoned } = generateCollege(options.tenantId, options.students, seed, today);
  await writeRows(db, ctx.rows, options.onProgress);
  return {
    tenantId: options.tenantId,
    seed,
    today: isoDay(today),
    students: ctx.rows.students.length,
    counts: countRows(ctx.rows, false),
    tombstoned: countRows(ctx.rows, true),
    demoStudentId: demo.row.id,
    demoStudent: {
      id: demo.row.id,
      zohoId: demo.row.zohoId!,
      moodleUserId: demo.row.moodleUserId,
      studentNumber: demo.row.studentNumber!,
      finance: demoFinance(ctx, demo.row.id),
      ...demoProgress(ctx, demo.row.id),
    },
    tombstonedStudentId: tombstoned?.row.id ?? null,
  };
}

/**
 * Deletes every row of a tenant except the Tenant row itself (college data, sync log and
 * parked events), children before parents. Returns the number of rows deleted per table.
 */
export async function deleteTenantData(db: Db, tenantId: string): Promise<Record<string, number>> {
  const where = { tenantId };
  const deleted: Record<string, number> = {};
  const record = async (table: string, operation: Promise<{ count: number }>) => {
    deleted[table] = (await operation).count;
  };
  await record('learningOutcomes', db.learningOutcome.deleteMany({ where: { grade: where } }));
  await record('parkedEvents', db.parkedEvent.deleteMany({ where }));
  await record('syncEvents', db.syncEvent.deleteMany({ where }));
  await record('grades', db.grade.deleteMany({ where }));
  await record('payments', db.payment.deleteMany({ where }));
  await record('enrollments', db.enrollment.deleteMany({ where }));
  await record('requests', db.studentRequest.deleteMany({ where }));
  await record('registrations', db.registration.deleteMany({ where }));
  await record('classes', db.class.deleteMany({ where }));
  await record('students', db.student.deleteMany({ where }));
  await record('units', db.unit.deleteMany({ where }));
  await record('teachers', db.teacher.deleteMany({ where }));
  await record('programs', db.program.deleteMany({ where }));
  return deleted;
}
