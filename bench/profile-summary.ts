/**
 * Summarises a V8 .cpuprofile of the gateway by library (self time), e.g. after
 *   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only S1 --skip-peer
 *   npx tsx bench/profile-summary.ts /tmp/prof/CPU.….cpuprofile [seconds to skip: start-up]
 * Wall-clock sampling: on a busy machine time spent descheduled is charged to the running frame.
 */
import { readFileSync } from 'node:fs';
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
const file = process.argv[2]!;
const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
const skip = Number(process.argv[3] ?? 0) * 1e6; let clock = 0;
prof.samples.forEach((id, i) => { clock += prof.timeDeltas[i] ?? 0; if (clock >= skip) self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)); });
const cat = (n: Node) => {
  const u = n.callFrame.url, f = n.callFrame.functionName;
  if (f === '(idle)') return 'idle';
  if (f === '(garbage collector)') return 'GC';
  if (f === '(program)') return 'program (native/VM)';
  if (/@prisma\/client/.test(u)) return 'prisma client runtime';
  if (/query_compiler|wasm/.test(u) || /^wasm/.test(f)) return 'prisma query compiler (wasm)';
  if (/@prisma\/adapter-pg|node_modules\/pg|pg-protocol|pg-types|postgres-/.test(u)) return 'pg driver';
  if (/node_modules\/graphql\//.test(u)) return 'graphql-js';
  if (/@pothos/.test(u)) return 'pothos';
  if (/graphql-yoga|@whatwg-node|@envelop|@graphql-yoga|graphql-ws/.test(u)) return 'yoga/envelop/whatwg';
  if (/jose/.test(u)) return 'jose (JWT)';
  if (/ioredis|redis-parser/.test(u)) return 'ioredis';
  if (/pino/.test(u)) return 'pino';
  if (/\/work\/.*\/src\//.test(u)) return 'app src';
  if (/tsx|esbuild/.test(u)) return 'tsx loader';
  if (u.startsWith('node:') || /^internal/.test(u)) return 'node internals';
  if (!u) return `native:${f || '(anonymous)'}`;
  return 'other: ' + u.replace(/.*node_modules\//, '').split('/')[0];
};
const cats = new Map<string, number>(); const fns = new Map<string, number>();
let total = 0;
for (const [id, t] of self) { const n = byId.get(id)!; const c = cat(n); total += t; cats.set(c, (cats.get(c) ?? 0) + t); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/work\/[^/]+\//, '')}:${n.callFrame.lineNumber}`; fns.set(k, (fns.get(k) ?? 0) + t); }
const busy = total - (cats.get('idle') ?? 0);
console.log(`profile ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s`);
for (const [c, t] of [...cats].sort((a, b) => b[1] - a[1]).slice(0, 22)) if (c !== 'idle') console.log(`${(100 * t / busy).toFixed(1).padStart(5)} %  ${c}`);
console.log('--- top functions (self, % of busy)');
for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${(100 * t / busy).toFixed(1).padStart(5)} %  ${f}`);
