/**
 * The two ways a webhook request reaches webhooks.ts: from node:http, ahead of Yoga (the
 * server's listener), and as a fetch Request (App.fetch, what tests call).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyWithin } from './bounded-body.js';
import { clientAddress } from './rate-limits.js';
import { HttpError, type WebhookReply, type Webhooks } from './webhooks.js';

/** The path of a request target (origin form, or absolute form as a proxy sends it), without its query string. */
function pathOf(target: string): string {
  if (!target.startsWith('/')) return URL.canParse(target) ? new URL(target).pathname : target;
  const query = target.indexOf('?');
  return query < 0 ? target : target.slice(0, query);
}

/**
 * A node:http listener for the webhook routes: answers a request on one of them and returns
 * true; returns false, touching nothing, for any other path (the caller hands it to Yoga).
 */
export function serveWebhooks(webhooks: Webhooks, options: { trustProxy: boolean }): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = pathOf(req.url ?? '/');
    if (!webhooks.routes(path)) return false;
    const header = (name: string): string | null => {
      const value = req.headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    };
    let bodyRead = false;
    void webhooks
      .answer({
        method: req.method ?? 'GET',
        path,
        header,
        clientIp: clientAddress(header('x-forwarded-for'), req.socket.remoteAddress, options.trustProxy),
        body: async (limit) => {
          const body = await readNodeBody(req, limit);
          bodyRead = body !== null;
          return body;
        },
      })
      .then((reply) => send(res, reply, bodyRead || req.complete))
      .catch(() => res.destroy());
    return true;
  };
}

/** A fetch Request to a webhook route, answered (App.fetch). */
export async function fetchWebhook(webhooks: Webhooks, request: Request): Promise<Response> {
  const reply = await webhooks.answer({
    method: request.method,
    path: new URL(request.url).pathname,
    header: (name) => request.headers.get(name),
    clientIp: 'unknown',
    body: (limit) => readBodyWithin(request, limit),
  });
  return Response.json(reply.body, { status: reply.status, headers: reply.headers });
}

/**
 * A request body's bytes, or null as soon as more than `limit` bytes have arrived (the rest is
 * not read). A body cut off by the client is a 400 (answered to no one).
 */
function readNodeBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        resolve(null);
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onClose = () => {
      done();
      reject(new HttpError(400, 'the connection closed before the whole body arrived'));
    };
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/**
 * Writes the reply. When the body was not read to its end (an early refusal, or over the limit),
 * the connection closes after the reply: what is left of the body is not read.
 */
function send(res: ServerResponse, reply: WebhookReply, bodyRead: boolean): void {
  if (res.destroyed) return;
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(bodyRead ? {} : { connection: 'close' }),
  });
  res.end(text);
}
