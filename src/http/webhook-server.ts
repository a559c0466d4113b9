/**
 * The two ways a webhook request reaches webhooks.ts: from node:http, ahead of Yoga (the
 * server's listener), and as a fetch Request (App.fetch, what tests call).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBodyWithin } from './bounded-body.js';
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
export function serveWebhooks(webhooks: Webhooks, options: { clientAddress: (req: IncomingMessage) => string }): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = pathOf(req.url ?? '/');
    if (!webhooks.routes(path)) return false;
    const header = (name: string): string | null => {
      const value = req.headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    };
    let body: 'unread' | 'read' | 'left' = 'unread';
    void webhooks
      .answer({
        method: req.method ?? 'GET',
        path,
        header,
        clientIp: options.clientAddress(req),
        body: async (limit) => {
          body = 'left';
          const bytes = await readNodeBody(req, limit);
          if (bytes) body = 'read';
          return bytes;
        },
      })
      .then((reply) => send(res, reply, body === 'read' || req.complete || (body === 'unread' && discardable(req, webhooks.maxBodyBytes))))
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
  return new Response(JSON.stringify(reply.body), { status: reply.status, headers: { ...reply.headers, 'content-type': CONTENT_TYPE } });
}

const CONTENT_TYPE = 'application/json; charset=utf-8';
const cutOff = () => new HttpError(400, 'the connection closed before the whole body arrived');

/**
 * A request body's bytes, or null as soon as more than `limit` bytes have arrived (the rest is
 * not read). A body whose connection closes (or closed already) before its end is a 400,
 * answered to no one.
 */
export function readNodeBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    // Closed while the request waited for its turn: no event would come any more.
    if (req.destroyed || req.readableAborted) return reject(cutOff());
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onClosed).off('close', onClosed);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      done();
      req.pause();
      resolve(null);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    // A request stream fails ("aborted", ECONNRESET) only when its connection does.
    const onClosed = () => {
      done();
      reject(cutOff());
    };
    req.on('data', onData).on('end', onEnd).on('error', onClosed).on('close', onClosed);
  });
}

/** An unread body Node may discard after the reply, keeping the connection: one of a declared, accepted length. */
function discardable(req: IncomingMessage, maxBodyBytes: number): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined && req.headers['transfer-encoding'] === undefined && Number(declared) <= maxBodyBytes;
}

/**
 * Writes the reply. When what is left of the body cannot be discarded (one cut short over the
 * limit, or chunked and unread), the connection closes after the reply instead.
 */
function send(res: ServerResponse, reply: WebhookReply, keepAlive: boolean): void {
  if (res.destroyed) return;
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    ...reply.headers,
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    ...(keepAlive ? {} : { connection: 'close' }),
  });
  res.end(text);
}
