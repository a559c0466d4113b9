/**
 * S3 of this checkout against S3 of another commit, in alternating runs: on a shared 2-core box
 * whose speed drifts by ±20 % from one minute to the next, a single run of each says nothing.
 *
 *   npm run bench:ab -- <commit> [--pairs 4] [--events 6000] [--keep]
 *
 * The commit is checked out into a git worktree (under the system's temporary directory,
 * node_modules linked from here, its own `npm run generate`; removed afterwards unless --keep).
 * Each pair runs `bench/run.ts --only S3 --skip-peer` once with the gateway started there
 * (BENCH_GATEWAY_CWD) and once from this checkout: the bench's own loader, dataset and load
 * generator serve both, so the gateway's code is what differs. The order flips every pair
 * (ABBA…), so a steady drift does not favour one side. Each
 * run's bench/results/latest.json gives its figures, printed as it ends; the means follow (also
 * when a run fails). A run whose final state is not exact fails the comparison. What else the two
 * sides share — this checkout's node_modules and the bench database as this checkout's bench
 * migrates it — is said in the output when package files or migrations differ.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { pairs: { type: 'string', default: '4' }, events: { type: 'string', default: '6000' }, keep: { type: 'boolean', default: false } },
});
const [rev] = positionals;
const pairs = Number(values.pairs);
const events = Number(values.events);
if (!rev || positionals.length > 1 || !Number.isInteger(pairs) || pairs < 1 || !Number.isInteger(events) || events < 100) {
  console.error('usage: npm run bench:ab -- <commit> [--pairs 4] [--events 6000] [--keep]');
  process.exit(2);
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${rev}^{commit}`);
/** What the gateway of "this checkout" runs: its commit, and whether its code differs from it (checked before every run). */
const GATEWAY_FILES = ['src', 'prisma', 'package.json', 'package-lock.json', 'tsconfig.json'];
const hereLabel = () => `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=all', '--', ...GATEWAY_FILES) ? ' + uncommitted changes' : ''}`;
const here = hereLabel();
// Outside the repository: tsc and vitest would take a worktree inside it for part of this one.
const base = path.join(os.tmpdir(), 'campus-graph-ab', commit.slice(0, 12));
const READY = path.join(base, '.ab-ready');
// Besides the gateway's code, these would differ too: both sides share this checkout's
// node_modules (linked) and the bench database, which this checkout's bench migrates.
const sharedDiffers = spawnSync('git', ['diff', '--quiet', commit, '--', 'package.json', 'package-lock.json', 'prisma/migrations'], { cwd: ROOT }).status !== 0;

interface Figures {
  eventsPerSecond: number;
  causalEventsPerSecond: number | null;
  causalCpu: number | null;
  server: number;
  postgres: number;
  eventsPerTransaction: number | null;
  msPerTransaction: number | null;
  exact: boolean;
}

function run(command: string, args: string[], cwd: string, what: string, env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`${what}: ${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

/** The base commit's worktree, made once (or again, when an earlier one is not at the commit or its generate did not finish). */
function prepareBase() {
  git('worktree', 'prune');
  if (existsSync(READY) && spawnSync('git', ['-C', base, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim() === commit) return;
  if (existsSync(base)) {
    if (spawnSync('git', ['worktree', 'remove', '--force', base], { cwd: ROOT }).status !== 0) rmSync(base, { recursive: true, force: true });
    git('worktree', 'prune');
  }
  git('worktree', 'add', '--detach', base, commit);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(base, 'node_modules'));
  run('npm', ['run', '--silent', 'generate'], base, 'generate in the worktree');
  writeFileSync(READY, `${commit}\n`);
}

function measure(gatewayCwd: string | null): Figures {
  const env = { ...process.env };
  if (gatewayCwd) env.BENCH_GATEWAY_CWD = gatewayCwd;
  else delete env.BENCH_GATEWAY_CWD;
  const latest = path.join(ROOT, 'bench', 'results', 'latest.json');
  rmSync(latest, { force: true });
  run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', 'S3', '--skip-peer', '--events', String(events)], ROOT, 'bench', env);
  const s3 = JSON.parse(readFileSync(latest, 'utf8')).scenarios.S3;
  const causal = s3.causalOrder;
  return {
    eventsPerSecond: s3.send.eventsPerSecond,
    causalEventsPerSecond: causal?.send?.eventsPerSecond ?? null,
    causalCpu: causal ? causal.cpuMsPerEvent.server + causal.cpuMsPerEvent.postgres : null,
    server: s3.cpuMsPerEvent.server,
    postgres: s3.cpuMsPerEvent.postgres,
    eventsPerTransaction: s3.groupCommit.eventsPerTransaction ?? null,
    msPerTransaction: s3.groupCommit.msPerTransaction ?? null,
    exact: s3.verification.exact && (causal?.verification?.exact ?? true),
  };
}

const fixed = (x: number | null | undefined, digits: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–');
const sides = { base: [] as Figures[], here: [] as Figures[] };
const row = (pair: number, side: string, f: Figures) =>
  `| ${pair} | ${side} | ${fixed(f.eventsPerSecond, 1)} | ${fixed(f.causalEventsPerSecond, 1)} | ${fixed(f.server, 3)} + ${fixed(f.postgres, 3)} | ${fixed(f.causalCpu, 3)} | ${fixed(f.eventsPerTransaction, 1)}; ${fixed(f.msPerTransaction, 1)} | ${f.exact ? 'exact' : 'NOT EXACT'} |`;
const mean = (list: Figures[], pick: (f: Figures) => number | null) => {
  const xs = list.map(pick).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
};
const change = (pick: (f: Figures) => number | null) => {
  const ratio = mean(sides.here, pick) / mean(sides.base, pick);
  return Number.isFinite(ratio) ? `${ratio >= 1 ? '+' : ''}${(100 * (ratio - 1)).toFixed(1)} %` : '–';
};
function summary() {
  const done = Math.min(sides.here.length, sides.base.length);
  if (!done) return;
  const wins = sides.here.slice(0, done).filter((f, i) => f.eventsPerSecond > sides.base[i]!.eventsPerSecond).length;
  const inexact = [...sides.here, ...sides.base].filter((f) => !f.exact).length;
  console.log(
    `\nmeans over ${done} pair(s): events/s ${fixed(mean(sides.here, (f) => f.eventsPerSecond), 1)} against ${fixed(mean(sides.base, (f) => f.eventsPerSecond), 1)} (${change((f) => f.eventsPerSecond)}, ahead in ${wins} of ${done}); ` +
      `CPU ms/event server ${change((f) => f.server)}, Postgres ${change((f) => f.postgres)}; causal order CPU ms/event ${change((f) => f.causalCpu)} (events/s ${change((f) => f.causalEventsPerSecond)}); ms per transaction ${change((f) => f.msPerTransaction)}` +
      (inexact ? `; ${inexact} run(s) NOT EXACT, included above` : ''),
  );
}

// Ctrl-C reaches the running bench too; it exits, `run` throws, and the worktree is removed.
process.on('SIGINT', () => {});
let failure: unknown = null;
try {
  prepareBase();
  console.log(`S3 (${events} events, shuffled, 32 in flight): this checkout (${here}) against ${commit.slice(0, 9)}, ${pairs} pairs, order flipped every pair${pairs % 2 ? ' (odd: the base runs first once more)' : ''}`);
  if (sharedDiffers) console.log(`note: package.json, package-lock.json or prisma/migrations differ from ${commit.slice(0, 9)}; both sides use this checkout's node_modules and the database as this checkout's bench migrates it`);
  console.log('\n| pair | gateway | events/s | causal order events/s | CPU ms/event: server + Postgres | causal order CPU ms/event | events per transaction; ms | final state |');
  console.log('|---|---|---:|---:|---:|---:|---:|---|');
  for (let pair = 1; pair <= pairs; pair++) {
    const order: ('base' | 'here')[] = pair % 2 ? ['base', 'here'] : ['here', 'base'];
    for (const side of order) {
      const label = side === 'base' ? commit.slice(0, 9) : hereLabel();
      console.error(`ab: pair ${pair}/${pairs}, ${label}`);
      const figures = measure(side === 'base' ? base : null);
      sides[side].push(figures);
      console.log(row(pair, side === 'base' ? commit.slice(0, 9) : `this checkout${label === here ? '' : ` (${label})`}`, figures));
    }
  }
} catch (error) {
  failure = error;
} finally {
  summary();
  if (!values.keep && existsSync(base)) {
    const removed = spawnSync('git', ['worktree', 'remove', '--force', base], { cwd: ROOT, encoding: 'utf8' });
    if (removed.status !== 0) console.error(`ab: could not remove the worktree ${base}: ${removed.stderr.trim()}`);
  }
}
if (failure) {
  console.error(`ab: ${failure instanceof Error ? failure.message : String(failure)}`);
  process.exit(1);
}
if ([...sides.here, ...sides.base].some((f) => !f.exact)) {
  console.error('ab: a run did not end with the exact final state');
  process.exit(1);
}
