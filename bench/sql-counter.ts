/**
 * Counts SQL statements on the wire: a TCP proxy in front of Postgres that reads the frontend
 * protocol of every connection (simple Query 'Q', extended Parse/Bind/Execute) and counts each
 * executed statement by its first keyword. Used where pg_stat_statements is not loaded (it
 * needs shared_preload_libraries and a restart of the shared server). Only for short counting
 * runs: the proxy adds a hop, so timed runs never go through it.
 */
import net from 'node:net';

export interface StatementCounts {
  /** Every executed statement (Execute messages + simple queries). */
  total: number;
  /** By first keyword: SELECT, INSERT, BEGIN, COMMIT… */
  byKind: Record<string, number>;
  /** Parse messages (statements planned anew; unnamed statements are parsed per execution). */
  parses: number;
  /**
   * Round trips: how often a connection sent a statement (a Sync or a simple Query, each
   * answered by one ReadyForQuery) while it awaited no answer. Pipelined statements, sent
   * before the answers to those ahead of them, share their round trip.
   */
  roundTrips: number;
  /** Distinct SQL texts seen with how often each ran (trimmed to 160 characters). */
  texts: Map<string, number>;
}

export interface SqlCounter {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  counts(): StatementCounts;
  reset(): void;
  close(): Promise<void>;
}

function kindOf(sql: string): string {
  const match = /^\s*(?:--[^\n]*\n\s*)*([A-Za-z]+)/.exec(sql);
  return (match?.[1] ?? '?').toUpperCase();
}

const noCounts = (): StatementCounts => ({ total: 0, byKind: {}, parses: 0, roundTrips: 0, texts: new Map() });

export async function startSqlCounter(upstreamHost: string, upstreamPort: number): Promise<SqlCounter> {
  let state = noCounts();
  const sockets = new Set<net.Socket>();
  const record = (sql: string) => {
    state.total++;
    const kind = kindOf(sql);
    state.byKind[kind] = (state.byKind[kind] ?? 0) + 1;
    const text = sql.replace(/\s+/g, ' ').trim().slice(0, 160);
    state.texts.set(text, (state.texts.get(text) ?? 0) + 1);
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, upstreamHost);
    sockets.add(client).add(upstream);
    const statements = new Map<string, string>();
    const portals = new Map<string, string>();
    let buffer: Buffer = Buffer.alloc(0);
    let started = false;
    /** Syncs and simple queries sent, not yet answered by a ReadyForQuery. */
    let awaited = 0;
    const expectAnswer = () => {
      if (awaited === 0) state.roundTrips++;
      awaited++;
    };
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(length);
          // SSLRequest / GSSENCRequest are followed by the real startup message.
          if (code !== 80877103 && code !== 80877104) started = true;
          continue;
        }
        if (buffer.length < 5) return;
        const type = String.fromCharCode(buffer[0]!);
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) return;
        const body = buffer.subarray(5, 1 + length);
        buffer = buffer.subarray(1 + length);
        if (type === 'Q' || type === 'S') expectAnswer();
        if (type === 'Q') {
          record(body.toString('utf8', 0, body.length - 1));
        } else if (type === 'P') {
          const nameEnd = body.indexOf(0);
          const name = body.toString('utf8', 0, nameEnd);
          const sqlEnd = body.indexOf(0, nameEnd + 1);
          statements.set(name, body.toString('utf8', nameEnd + 1, sqlEnd));
          state.parses++;
        } else if (type === 'B') {
          const portalEnd = body.indexOf(0);
          const portal = body.toString('utf8', 0, portalEnd);
          const stmtEnd = body.indexOf(0, portalEnd + 1);
          portals.set(portal, statements.get(body.toString('utf8', portalEnd + 1, stmtEnd)) ?? '?');
        } else if (type === 'E') {
          const portal = body.toString('utf8', 0, body.indexOf(0));
          record(portals.get(portal) ?? '?');
        }
      }
    });
    // The backend's messages, for its ReadyForQuery answers ('Z'). Those of the startup (no
    // statement awaited them) are not counted. (Our clients do not ask for SSL, whose one-byte
    // answer has no message frame.)
    let answers: Buffer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      answers = answers.length ? Buffer.concat([answers, chunk]) : chunk;
      while (answers.length >= 5) {
        const length = answers.readInt32BE(1);
        if (answers.length < 1 + length) break;
        if (answers[0] === 0x5a && awaited > 0) awaited--;
        answers = answers.subarray(1 + length);
      }
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    counts: () => ({ ...state, byKind: { ...state.byKind }, texts: new Map(state.texts) }),
    reset: () => {
      state = noCounts();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
