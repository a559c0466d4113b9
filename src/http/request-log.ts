import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

const requests = new WeakMap<Request, { id: string; started: number }>();

/** The request's id: its `x-request-id` (trimmed to 128 characters) or one made on arrival. */
export function requestIdOf(request: Request): string {
  let entry = requests.get(request);
  if (!entry) {
    entry = { id: request.headers.get('x-request-id')?.slice(0, 128) || randomUUID(), started: performance.now() };
    requests.set(request, entry);
  }
  return entry.id;
}

const QUIET = new Set(['/health', '/health/live', '/metrics']);

/** One access-log line per request (method, path, status, duration, request id); the id is echoed in `x-request-id`. */
export function requestLog(log: Logger): Plugin {
  return {
    onRequest({ request }) {
      requestIdOf(request);
    },
    onResponse({ request, response }) {
      const id = requestIdOf(request);
      response.headers.set('x-request-id', id);
      const path = new URL(request.url).pathname;
      const line = {
        requestId: id,
        method: request.method,
        path,
        status: response.status,
        ms: Math.round((performance.now() - (requests.get(request)?.started ?? performance.now())) * 10) / 10,
      };
      if (QUIET.has(path)) log.debug(line, 'request');
      else if (response.status >= 500) log.error(line, 'request failed');
      else log.info(line, 'request');
    },
  };
}
