/**
 * CPU time spent per request, by process: the gateway (or peer), the Postgres backends serving
 * the bench database, and this load generator. Unlike requests/s on a shared machine, CPU
 * milliseconds per request hardly change when other work competes for the cores.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';

const TICK_MS = 10; // /proc/<pid>/stat counts in clock ticks of 1/100 s (USER_HZ)

export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!stat) return 0;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Summed CPU of every Postgres backend connected to `database` (pids from pg_stat_activity). */
export async function backendCpuMs(adminUrl: string, database: string): Promise<{ ms: number; pids: number[]; each: number[] }> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    const times = await Promise.all(rows.map((r) => processCpuMs(r.pid)));
    return { ms: times.reduce((a, b) => a + b, 0), pids: rows.map((r) => r.pid), each: times };
  } finally {
    await client.end();
  }
}

/** The machine's busy and total time over all cores so far (/proc/stat), in clock ticks. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '';
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.split(/\s+/).slice(1, 9).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

export interface CpuSplit {
  serverMs: number;
  postgresMs: number;
  loadGeneratorMs: number;
  /** Share of all cores busy during the window, every process counted (NaN where /proc/stat is missing). */
  machineBusy: number;
}

export interface CpuProbe {
  stop(): Promise<CpuSplit>;
}

/** Starts measuring; `stop()` returns the CPU spent since, per part. */
export async function startCpuProbe(serverPid: number, adminUrl: string, database: string): Promise<CpuProbe> {
  const server0 = await processCpuMs(serverPid);
  const pg0 = await backendCpuMs(adminUrl, database);
  const self0 = process.cpuUsage();
  const machine0 = await machineTicks();
  return {
    async stop() {
      const self = process.cpuUsage(self0);
      const machine1 = await machineTicks();
      const server1 = await processCpuMs(serverPid);
      // Backends that existed at the start (a pool's connections live for the whole run).
      const pg1 = await Promise.all(pg0.pids.map((pid) => processCpuMs(pid)));
      // A backend gone since the start (pool connection closed) reads 0: its time is lost, not negative.
      const kept = pg1.reduce((sum, end, i) => sum + (end > 0 ? end - pg0.each[i]! : 0), 0);
      const newer = await backendCpuMs(adminUrl, database);
      const fresh = newer.pids.filter((p) => !pg0.pids.includes(p));
      const freshMs = (await Promise.all(fresh.map((p) => processCpuMs(p)))).reduce((a, b) => a + b, 0);
      return {
        serverMs: server1 - server0,
        postgresMs: kept + freshMs,
        loadGeneratorMs: (self.user + self.system) / 1000,
        machineBusy: (machine1.busy - machine0.busy) / (machine1.total - machine0.total),
      };
    },
  };
}
