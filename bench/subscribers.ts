/**
 * S4's subscribers: many graphql-ws connections opened from this one process with `ws`
 * directly, speaking the graphql-transport-ws protocol (connection_init → connection_ack →
 * subscribe → next…), lighter than the graphql-ws client. Each `next` is timestamped on
 * arrival; latency = arrival − the event's own timestamp (`at` of studentUpdated: after the
 * ingest transaction committed; `processedAt` of syncEvents: set by the gateway just before the
 * transaction commits).
 */
import WebSocket from 'ws';

export interface SubscriberSpec {
  token: string;
  kind: 'studentUpdated' | 'syncEvents';
}

const QUERIES = {
  studentUpdated: 'subscription { studentUpdated { sections at student { id } } }',
  syncEvents: 'subscription { syncEvents { id module status receivedAt processedAt } }',
} as const;

export interface Subscribers {
  opened: number;
  failed: number;
  failures: string[];
  openSeconds: number;
  /** Latencies (ms) per kind, of every `next` received so far. */
  latencies: Record<SubscriberSpec['kind'], number[]>;
  errors: number;
  closedEarly: number;
  resetLatencies(): void;
  close(): Promise<void>;
}

export async function openSubscribers(url: string, specs: readonly SubscriberSpec[], options: { batch?: number; onProgress?: (n: number) => void } = {}): Promise<Subscribers> {
  const sockets: WebSocket[] = [];
  const latencies: Subscribers['latencies'] = { studentUpdated: [], syncEvents: [] };
  const failures: string[] = [];
  let failed = 0;
  let errors = 0;
  let closedEarly = 0;
  let closing = false;
  const started = performance.now();

  const open = (spec: SubscriberSpec) =>
    new Promise<void>((resolve) => {
      const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        failed++;
        if (failures.length < 10) failures.push(why);
        socket.terminate();
        resolve();
      };
      const timer = setTimeout(() => fail('no connection_ack within 30 s'), 30_000);
      socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${spec.token}` } })));
      socket.on('message', (data: WebSocket.RawData) => {
        const arrived = Date.now();
        const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: Record<string, Record<string, unknown>>; errors?: unknown } };
        if (message.type === 'connection_ack') {
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: QUERIES[spec.kind] } }));
          clearTimeout(timer);
          settled = true;
          sockets.push(socket);
          resolve();
        } else if (message.type === 'next') {
          const data = message.payload?.data?.[spec.kind];
          const stamp = spec.kind === 'studentUpdated' ? data?.at : (data?.processedAt ?? data?.receivedAt);
          if (typeof stamp === 'string') latencies[spec.kind].push(arrived - Date.parse(stamp));
          if (message.payload?.errors) errors++;
        } else if (message.type === 'error') {
          errors++;
          if (failures.length < 10) failures.push(`subscribe error: ${JSON.stringify(message.payload).slice(0, 200)}`);
        } else if (message.type === 'ping') {
          socket.send(JSON.stringify({ type: 'pong' }));
        }
      });
      socket.on('error', (error) => fail(`socket error: ${error.message}`));
      socket.on('close', (code, reason) => {
        if (!settled) fail(`closed ${code} ${reason.toString()}`);
        else if (!closing) closedEarly++;
      });
    });

  const batch = options.batch ?? 250;
  for (let i = 0; i < specs.length; i += batch) {
    await Promise.all(specs.slice(i, i + batch).map(open));
    options.onProgress?.(Math.min(specs.length, i + batch));
  }
  return {
    opened: sockets.length,
    failed,
    failures,
    openSeconds: (performance.now() - started) / 1000,
    latencies,
    get errors() {
      return errors;
    },
    get closedEarly() {
      return closedEarly;
    },
    resetLatencies() {
      latencies.studentUpdated = [];
      latencies.syncEvents = [];
    },
    close: async () => {
      closing = true;
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              socket.once('close', () => resolve());
              socket.close(1000);
              setTimeout(() => {
                socket.terminate();
                resolve();
              }, 3000).unref();
            }),
        ),
      );
    },
  };
}
