/**
 * Loads a demo college into a tenant of the database at DATABASE_URL.
 *
 *   npm run seed -- --students 10000 [--tenant default] [--seed 1] [--reset]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createPrismaClient, type Db } from '../src/db/client.js';
import { DEFAULT_STUDENT_COUNT, deleteTenantData, seedCollege, type SeedSummary } from '../src/db/seed.js';

const USAGE = 'usage: npm run seed -- --students N [--tenant default] [--seed 1] [--reset]';

interface SeedArgs {
  students: number;
  tenant: string;
  seed: number;
  reset: boolean;
}

/** Bad command line: reported with the usage line. */
class UsageError extends Error {}
/** A state the seed refuses to run in: reported as is. */
class SeedRefused extends Error {}

function positiveInteger(name: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) throw new UsageError(`--${name} must be an integer ≥ ${minimum}, got "${text}"`);
  return value;
}

function parseSeedArgs(argv: string[]): SeedArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      students: { type: 'string', default: String(DEFAULT_STUDENT_COUNT) },
      tenant: { type: 'string', default: process.env.DEFAULT_TENANT || 'default' },
      seed: { type: 'string', default: '1' },
      reset: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!values.tenant.trim()) throw new UsageError('--tenant must not be empty');
  return {
    students: positiveInteger('students', values.students, 1),
    tenant: values.tenant,
    seed: positiveInteger('seed', values.seed, 0),
    reset: values.reset,
  };
}

/** Creates the tenant (name = id, a random webhook secret) unless it exists; true when created. */
async function ensureTenantExists(db: Db, tenantId: string): Promise<boolean> {
  if (await db.tenant.findUnique({ where: { id: tenantId }, select: { id: true } })) return false;
  await db.tenant.create({ data: { id: tenantId, name: tenantId, webhookSecret: randomBytes(32).toString('hex') } });
  return true;
}

function progressReporter(): (done: number, total: number) => void {
  const interactive = process.stderr.isTTY;
  let lastDecile = -1;
  return (done, total) => {
    const percent = Math.floor((done / total) * 100);
    if (interactive) {
      process.stderr.write(`\rseeding: ${done.toLocaleString('en-GB')} / ${total.toLocaleString('en-GB')} rows (${percent}%)`);
      if (done === total) process.stderr.write('\n');
    } else if (Math.floor(percent / 10) > lastDecile) {
      lastDecile = Math.floor(percent / 10);
      process.stderr.write(`seeding: ${done} / ${total} rows (${percent}%)\n`);
    }
  };
}

function printSummary(summary: SeedSummary, elapsedMs: number): void {
  const lines = [
    `Seeded tenant "${summary.tenantId}" (seed ${summary.seed}, dates around ${summary.today}) in ${(elapsedMs / 1000).toFixed(1)} s`,
    ...Object.entries(summary.counts).map(([table, count]) => {
      const tombstoned = summary.tombstoned[table as keyof SeedSummary['tombstoned']];
      return `  ${table.padEnd(17)} ${String(count).padStart(8)}${tombstoned ? `  (${tombstoned} tombstoned)` : ''}`;
    }),
    `Demo student: ${summary.demoStudent.studentNumber} Lina Haddad, Moodle ${summary.demoStudent.moodleUserId}, id ${summary.demoStudentId}`,
  ];
  console.log(lines.join('\n'));
}

async function main(): Promise<void> {
  const args = parseSeedArgs(process.argv.slice(2));
  const url = process.env.DATABASE_URL;
  if (!url) throw new SeedRefused('DATABASE_URL is not set (e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/campus_graph npm run seed)');

  const db = createPrismaClient(url);
  try {
    if (await ensureTenantExists(db, args.tenant)) console.error(`seed: created tenant "${args.tenant}" with a random webhook secret`);
    if (args.reset) {
      const deleted = await deleteTenantData(db, args.tenant);
      const total = Object.values(deleted).reduce((a, b) => a + b, 0);
      console.error(`seed: --reset deleted ${total} rows of tenant "${args.tenant}"`);
    } else {
      const existing = await db.student.count({ where: { tenantId: args.tenant } });
      if (existing > 0) throw new SeedRefused(`tenant "${args.tenant}" already has ${existing} students; pass --reset to replace its data`);
    }
    const started = performance.now();
    const summary = await seedCollege(db, { tenantId: args.tenant, students: args.students, seed: args.seed, onProgress: progressReporter() });
    printSummary(summary, performance.now() - started);
  } finally {
    await db.$disconnect();
  }
}

function isParseArgsError(error: unknown): error is Error {
  return error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS');
}

/** The last line of a (possibly multi-line, source-framed) Prisma error: the actual cause. */
function causeLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.trim().split('\n').at(-1)!.trim();
}

main().catch((error: unknown) => {
  if (error instanceof UsageError || isParseArgsError(error)) console.error(`seed: ${error.message}\n${USAGE}`);
  else if (error instanceof SeedRefused) console.error(`seed: ${error.message}`);
  else console.error(`seed: failed: ${causeLine(error)}`);
  process.exitCode = 1;
});
