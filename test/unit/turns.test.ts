import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextTurn } from '../../src/http/turns.js';

describe('nextTurn', () => {
  let server: ReturnType<typeof createServer>;
  let client: Socket;
  let peer: Socket;

  beforeAll(async () => {
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    client = connect((server.address() as AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    [peer] = (await accepted) as [Socket];
  });
  afterAll(async () => {
    client.destroy();
    peer.destroy();
    server.close();
    await once(server, 'close');
  });

  it('releases waiters in order, one per event-loop turn', async () => {
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => nextTurn().then(() => order.push(n)));
    await waiters[0];
    // However many microtasks run, the second waits for a turn of its own.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(order).toEqual([1]);
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });

  it('lets I/O that became ready meanwhile run before the next waiter (a Postgres answer before the next parse)', async () => {
    const order: string[] = [];
    peer.once('data', () => order.push('socket data'));
    const first = nextTurn().then(() => {
      order.push('first');
      client.write('x');
    });
    const second = nextTurn().then(() => order.push('second'));
    await Promise.all([first, second]);
    // Released together (one setImmediate each, or all in one), both would run before the poll phase that reads the socket.
    expect(order).toEqual(['first', 'socket data', 'second']);
  });
});
