/**
 * S3 of this checkout against S3 of another commit, in alternating runs: on a shared 2-core box
 * whose speed drifts by ±20 % from one minute to the next, a single run of each says nothing.
 *
 *   npm run bench:ab -- <commit> [--pairs 4] [--events 6000] [--keep]
 *
 * The commit is checked out into a git worktree (under the system's temporary directory; node_modules
 * linked from here, its own `npm run generate`; removed afterwards unless --keep), and each pair runs `bench/run.ts --only S3
 * --skip-peer` once with the gateway started there (BENCH_GATEWAY_CWD) and once from this
 * checkout — the bench's own loader, dataset and load generator in both, so only the gateway
 * differs. The order flips every pair (ABBA…), so a steady drift does not favour one side. Each
 * run's bench/results/latest.json gives its figures; a run whose final state is not exact fails
 * the comparison. Prints a markdown table per run and the means.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
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
const here = `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' + uncommitted changes' : ''}`;
// Outside the repository: tsc and vitest would take a worktree inside it for part of this one.
const base = path.join(os.tmpdir(), 'campus-graph-ab', commit.slice(0, 12));

if (!existsSync(base)) {
  git('worktree', 'add', '--detach', base, commit);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(base, 'node_modules'));
  run('npm', ['run', '--silent', 'generate'], base, 'generate in the worktree');
}

interface Figures {
  eventsPerSecond: number;
  causalEventsPerSecond: number | null;
  server: number;
  postgres: number;
  eventsPerTransaction: number;
  msPerTransaction: number;
  exact: boolean;
}

function run(command: string, args: string[], cwd: string, what: string, env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd, env, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`${what}: ${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

function measure(gatewayCwd: string | null): Figures {
  const env = { ...process.env };
  if (gatewayCwd) env.BENCH_GATEWAY_CWD = gatewayCwd;
  else delete env.BENCH_GATEWAY_CWD;
  const latest = path.join(ROOT, 'bench', 'results', 'latest.json');
  rmSync(latest, { force: true });
  run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--only', 'S3', '--skip-peer', '--events', String(events)], ROOT, 'bench', env);
  const s3 = JSON.parse(readFileSync(latest, 'utf8')).scenarios.S3;
  return {
    eventsPerSecond: s3.send.eventsPerSecond,
    causalEventsPerSecond: s3.causalOrder?.send?.eventsPerSecond ?? null,
    server: s3.cpuMsPerEvent.server,
    postgres: s3.cpuMsPerEvent.postgres,
    eventsPerTransaction: s3.groupCommit.eventsPerTransaction,
    msPerTransaction: s3.groupCommit.msPerTransaction,
    exact: s3.verification.exact && (s3.causalOrder?.verification?.exact ?? true),
  };
}

const sides = { base: [] as Figures[], here: [] as Figures[] };
const rows: string[] = [];
const row = (pair: number, side: string, f: Figures) =>
  `| ${pair} | ${side} | ${f.eventsPerSecond.toFixed(1)} | ${f.causalEventsPerSecond?.toFixed(1) ?? ''} | ${f.server.toFixed(3)} + ${f.postgres.toFixed(3)} | ${f.eventsPerTransaction.toFixed(1)}; ${f.msPerTransaction.toFixed(1)} | ${f.exact ? 'exact' : 'NOT EXACT'} |`;
try {
  for (let pair = 1; pair <= pairs; pair++) {
    const order: ('base' | 'here')[] = pair % 2 ? ['base', 'here'] : ['here', 'base'];
    for (const side of order) {
      console.error(`ab: pair ${pair}/${pairs}, ${side === 'base' ? commit.slice(0, 9) : here}`);
      const figures = measure(side === 'base' ? base : null);
      sides[side].push(figures);
      rows.push(row(pair, side === 'base' ? commit.slice(0, 9) : 'this checkout', figures));
    }
  }
} finally {
  if (!values.keep) git('worktree', 'remove', '--force', base);
}

const mean = (list: Figures[], pick: (f: Figures) => number | null) => {
  const xs = list.map(pick).filter((x): x is number => x !== null);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
};
const wins = sides.here.filter((f, i) => f.eventsPerSecond > sides.base[i]!.eventsPerSecond).length;
const change = (pick: (f: Figures) => number | null) => `${(100 * (mean(sides.here, pick) / mean(sides.base, pick) - 1)).toFixed(1)} %`;

console.log(`S3 (${events} events, shuffled, 32 in flight): this checkout (${here}) against ${commit.slice(0, 9)}, ${pairs} pairs, order flipped every pair\n`);
console.log('| pair | gateway | events/s | causal order events/s | CPU ms/event: server + Postgres | events per transaction; ms |  final state |');
console.log('|---|---|---:|---:|---:|---:|---|');
for (const r of rows) console.log(r);
console.log(
  `\nmeans: events/s ${mean(sides.here, (f) => f.eventsPerSecond).toFixed(1)} against ${mean(sides.base, (f) => f.eventsPerSecond).toFixed(1)} (${change((f) => f.eventsPerSecond)}, ahead in ${wins} of ${pairs} pairs); ` +
    `causal ${change((f) => f.causalEventsPerSecond)}; CPU ms/event server ${change((f) => f.server)}, Postgres ${change((f) => f.postgres)}; ms per transaction ${change((f) => f.msPerTransaction)}`,
);
if ([...sides.here, ...sides.base].some((f) => !f.exact)) {
  console.error('ab: a run did not end with the exact final state');
  process.exit(1);
}
