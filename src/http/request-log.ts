import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

const requests = new WeakMap<Request, { id: string; started: number }>();

/** A request's id: its `x-request-id` (trimmed to 128 characters) or one made on arrival. */
export function requestIdFrom(header: string | null | undefined): string {
  return header?.slice(0, 128) || randomUUID();
}

/** The id of a request Yoga serves (requestIdFrom, remembered per request). */
export function requestIdOf(request: Request): string {
  let entry = requests.get(request);
  if (!entry) {
    entry = { id: requestIdFrom(request.headers.get('x-request-id')), started: performance.now() };
    requests.set(request, entry);
  }
  return entry.id;
}

export interface AccessLine {
  requestId: string;
  method: string;
  path: string;
  status: number;
  ms: number;
}

const QUIET = new Set(['/health', '/health/live', '/metrics']);

/** The access-log line of one request, whoever served it (Yoga's plugin below, webhooks.ts). */
export function logRequest(log: Logger, line: AccessLine): void {
  if (QUIET.has(line.path)) log.debug(line, 'request');
  else if (line.status >= 500) log.error(line, 'request failed');
  else log.info(line, 'request');
}

/** Milliseconds since `started` (a performance.now()), to a tenth. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** One access-log line per request (method, path, status, duration, request id); the id is echoed in `x-request-id`. */
export function requestLog(log: Logger): Plugin {
  return {
    onRequest({ request }) {
      requestIdOf(request);
    },
    onResponse({ request, response }) {
      const id = requestIdOf(request);
      response.headers.set('x-request-id', id);
      const started = requests.get(request)?.started ?? performance.now();
      logRequest(log, { requestId: id, method: request.method, path: new URL(request.url).pathname, status: response.status, ms: elapsedMs(started) });
    },
  };
}
