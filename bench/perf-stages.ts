/**
 * On-CPU time of one gateway thread by pipeline stage, from a system-wide `perf` recording —
 * unlike V8's --cpu-prof, which samples wall-clock time and charges the time a thread spends
 * descheduled to the frame it was in (on this busy 2-core box it charged 21.6 % of an S3 run's
 * busy time to socket writes — writev, writeUtf8String, writeBuffer — where perf finds 6.6 % of
 * the thread's on-CPU samples). Usage:
 *
 *   BENCH_GATEWAY_NODE_ARGS=--perf-basic-prof-only-functions npm run bench -- --only S3 --skip-peer --events 8000 &
 *   # once the S3 progress bar runs (after its warm-up):
 *   perf record -o /tmp/s3.data -a -F 997 -g -- sleep 12
 *   perf script -i /tmp/s3.data -F comm,pid,tid,time,ip,sym,dso > /tmp/s3.txt
 *   npx tsx bench/perf-stages.ts /tmp/s3.txt            # threads by samples
 *   npx tsx bench/perf-stages.ts /tmp/s3.txt <pid/tid>  # that thread's stages (a gateway or a Postgres backend)
 *   npx tsx bench/perf-stages.ts /tmp/s3.txt <pid/tid> <pid/tid>  # who waits for whom: the
 *     share of sampling ticks (1/997 s, every CPU) in which one thread ran, the other, both, neither
 *
 * A sample belongs to the first stage (in the order below) with a frame anywhere in its stack.
 * JS frames resolve through /tmp/perf-<pid>.map (the node flag writes it; perf script reads it);
 * frames of bytecode handlers stay [unknown] and count under "unattributed".
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const STAGES: [string, RegExp][] = [
  // The collectors' own entry points (not Heap* helpers that every allocation passes through).
  ['GC', /v8::internal::(Heap::(CollectGarbage|PerformGarbageCollection|Scavenge|MarkCompact)|Scavenger|ScavengerCollector|MarkCompactCollector|MinorMarkCompactCollector|IncrementalMarking|ConcurrentMarking)\b|GCTracer/],
  ['JIT compiler', /v8::internal::compiler::|Builtins_CompileLazy|v8::internal::Compiler::|BaselineBatchCompiler|maglev/],
  ['fan-out: cache invalidation, pub/sub, ioredis', /sync-fanout|src\/pubsub|src\/cache\/|ioredis|redis-parser|denque/],
  ['ingest transaction: claim, read, plan, write, SQL text, pg driver', /src\/ingest\/(batch|store|locks|group-commit)|src\/db\/sql|node_modules\/pg\/|pg-protocol|pg-pool|pg-types|postgres-array|p-retry/],
  ['events: envelopes, records, keys, fingerprint', /src\/ingest\/(envelopes|zoho-records|moodle-events|fields|raw-event|record|btec|pipeline)|node_modules\/zod/],
  ['body: read, HMAC, JSON, depth', /bounded-body|src\/auth\/signature|lossless-json|json-depth|Hmac/],
  ['HTTP server, Fetch adapter (yoga, whatwg-node)', /_http_server|_http_outgoing|_http_common|llhttp|whatwg-node|graphql-yoga|@envelop|src\/http\/|src\/app/],
  ['GraphQL execution', /node_modules\/graphql\/|@pothos|graphql-jit/],
  ['metrics, logging', /prom-client|pino|src\/metrics|src\/logger/],
];
/**
 * A Postgres backend's stages (a thread whose comm is postgres), by the functions of its own
 * binary (its dynamic symbols resolve without debug packages; static functions do not, so a
 * stage is named by an exported function on their stacks). Data-modifying CTEs run in
 * ExecutorFinish, so "executing the statement" holds the writes' own work.
 */
const POSTGRES_STAGES: [string, RegExp][] = [
  ['foreign-key checks (RI triggers, their SPI queries)', /\b(AfterTriggerEndQuery|AfterTriggerFireDeferred|RI_FKey_\w+)\b/],
  ['parse, analyse, plan (and a prepared plan\'s revalidation and locks: GetCachedPlan)', /\b(raw_parser|parse_analyze\w*|pg_analyze_and_rewrite\w*|GetCachedPlan|pg_plan_queries|standard_planner)\b/],
  ['JSON and array parameters into rows', /\b(jsonb_in|json_in|pg_parse_json|jsonb?_(populate|to)_recordset|array_in)\b/],
  ['index entries written', /\b(ExecInsertIndexTuples|btinsert)\b/],
  ['rows written (insert, update, delete)', /\b(heap_insert|heap_update|heap_delete|heap_multi_insert)\b/],
  ['index lookups', /\b(btgettuple|index_getnext_tid|index_fetch_heap)\b/],
  ['executor start and end', /\b(standard_ExecutorStart|standard_ExecutorEnd|PortalDrop)\b/],
  // CommitTransaction itself is static (no dynamic symbol): its exported caller stands for it.
  ['commit, WAL', /\b(CommitTransactionCommand|XLogFlush|XLogInsert)\b/],
  ['rest of the statement (joins, projections, results out)', /\b(standard_ExecutorRun|standard_ExecutorFinish|PortalRun)\b/],
  ['client protocol', /\b(secure_read|secure_write|pq_getmessage)\b/],
];
const KERNEL = /\[kernel\.kallsyms\]/;

const [file, thread, other] = process.argv.slice(2);
if (!file) throw new Error('usage: perf-stages.ts <perf script output> [pid/tid [pid/tid]]');
/** perf record -F 997: a tick is one sampling period; each CPU's sample in it tells what ran there. */
const TICK_SECONDS = 1 / 997;
const ticks = new Map<number, number>();

const byThread = new Map<string, number>();
const byStage = new Map<string, number>();
let samples = 0;
let header: string | null = null;
let frames: string[] = [];

function flush() {
  if (!header) return;
  // A thread's name may hold spaces ("V8 DefaultWorke"): the pid/tid field is what the rest follows.
  const fields = /^(.*?)\s+(\d+\/\d+)\s+(\S+)?/.exec(header);
  if (!fields) throw new Error(`a sample header without pid/tid: ${header} (perf script -F comm,pid,tid,time,…)`);
  const [, comm, tid, time] = fields;
  const key = `${tid} ${comm}`;
  byThread.set(key, (byThread.get(key) ?? 0) + 1);
  if (other) {
    if (!time?.endsWith(':')) throw new Error('two threads: record the time too (perf script -F comm,pid,tid,time,…)');
    const tick = Math.floor(Number(time.slice(0, -1)) / TICK_SECONDS);
    ticks.set(tick, (ticks.get(tick) ?? 0) | (tid === thread ? 1 : 0) | (tid === other ? 2 : 0));
  }
  if (thread && tid === thread) {
    samples++;
    const stack = frames.join('\n');
    const stage = (comm === 'postgres' ? POSTGRES_STAGES : STAGES).find(([, pattern]) => pattern.test(stack))?.[0] ?? (KERNEL.test(frames[0] ?? '') ? 'kernel, unattributed' : comm === 'postgres' ? 'other, unattributed' : 'runtime, microtasks, unattributed');
    byStage.set(stage, (byStage.get(stage) ?? 0) + 1);
  }
}

for await (const line of createInterface({ input: createReadStream(file) })) {
  if (line && !/^\s/.test(line)) {
    flush();
    header = line.trim();
    frames = [];
  } else if (line.trim()) frames.push(line.trim());
}
flush();

const table = (counts: Map<string, number>, total: number, limit: number) =>
  [...counts].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, n]) => `${((100 * n) / total).toFixed(1).padStart(5)} %  ${String(n).padStart(6)}  ${name}`).join('\n');

const all = [...byThread.values()].reduce((a, b) => a + b, 0);
if (other) {
  const shares = [0, 0, 0, 0];
  for (const ran of ticks.values()) shares[ran]!++;
  const share = (n: number) => `${((100 * n) / ticks.size).toFixed(1).padStart(5)} %`;
  console.log(`${ticks.size} ticks: ${thread} alone ${share(shares[1]!)}, ${other} alone ${share(shares[2]!)}, both ${share(shares[3]!)}, neither ${share(shares[0]!)}`);
} else if (!thread) console.log(`samples of every CPU (swapper = idle)\n${table(byThread, all, 15)}`);
else console.log(`thread ${thread}: ${samples} samples (${((100 * samples) / all).toFixed(1)} % of every CPU's)\n${table(byStage, samples, Math.max(STAGES.length, POSTGRES_STAGES.length) + 2)}`);
