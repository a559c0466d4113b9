/**
 * Closed-loop HTTP load with autocannon (N connections, each sending its next request when the
 * previous answer arrived). Latencies are recorded here from autocannon's per-response event
 * (sub-millisecond; autocannon's own histogram keeps whole milliseconds).
 */
import autocannon from 'autocannon';

export interface LoadRequest {
  body: string;
  headers: Record<string, string>;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationSeconds: number;
  /** Called for every request: the body and headers to send. */
  next: () => LoadRequest;
  /** Each 2xx response time (ms) is also appended here: several runs summarised as one (summarizeRuns). */
  samples?: number[];
}

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  bytesPerResponse: number;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let finish!: (error: Error | null, result: autocannon.Result) => void;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) => (error ? reject(error) : resolve(result));
  });
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    pipelining: 1,
    timeout: 30,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    requests: [
      {
        setupRequest: (request: autocannon.Request) => {
          const next = options.next();
          request.body = next.body;
          request.headers = { ...request.headers, ...next.headers };
          return request;
        },
      },
    ],
  }, (error, result) => finish(error, result));
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    if (status < 200 || status >= 300) return;
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = responseTime;
    options.samples?.push(responseTime);
  });
  const result = await done;
  const seconds = result.duration;
  const requests = result.requests.total;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    ...latencyStats(latencies.subarray(0, count).sort()),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    bytesPerResponse: requests ? result.throughput.total / requests : 0,
  };
}

/** Several runs as one: totals summed, percentiles over every run's response times (`samples`, see LoadOptions). */
export function summarizeRuns(runs: readonly LoadResult[], samples: readonly number[]): LoadResult {
  const sum = (pick: (r: LoadResult) => number) => runs.reduce((total, r) => total + pick(r), 0);
  const requests = sum((r) => r.requests);
  const seconds = sum((r) => r.seconds);
  return {
    requests,
    seconds,
    rps: requests / seconds,
    ...latencyStats(Float64Array.from(samples).sort()),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    bytesPerResponse: requests ? sum((r) => r.bytesPerResponse * r.requests) / requests : 0,
  };
}

/** Percentiles, max and mean of sorted response times (ms). */
function latencyStats(sorted: Float64Array): Pick<LoadResult, 'p50' | 'p90' | 'p99' | 'max' | 'mean'> {
  const n = sorted.length;
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n ? sorted[n - 1]! : NaN,
    mean: n ? sorted.reduce((a, b) => a + b, 0) / n : NaN,
  };
}
