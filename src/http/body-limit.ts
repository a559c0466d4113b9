import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export const GRAPHQL_BODY_LIMIT = 1024 * 1024;

const tooLarge = (maxBytes: number, declared?: number) =>
  `request body${declared === undefined ? '' : ` of ${declared} bytes`} exceeds the limit of ${maxBytes} bytes`;

/** The 413 of a body over the limit, as a GraphQL response. */
export function bodyTooLarge(fetchAPI: { Response: typeof Response }, maxBytes: number, declared?: number): Response {
  return fetchAPI.Response.json({ errors: [{ message: tooLarge(maxBytes, declared), extensions: { code: 'PAYLOAD_TOO_LARGE' } }] }, { status: 413 });
}

/**
 * POST /graphql bodies over `maxBytes` get 413. By Content-Length before anything reads them;
 * a body without one (chunked) is counted as it streams. A body with Content-Length cannot run
 * past it (HTTP framing), so only chunked ones pay for the counting stream: yoga's own limit
 * (maxRequestBodySize, off in app.ts) pipes every body through one, a stream pipeline and an
 * AbortSignal per request: bench S2 A/B, alternating, gateway CPU per cached dashboard 0.73 /
 * 0.57 / 0.60 → 0.45 / 0.44 / 0.52 ms. Signed requests read their body earlier, within the same
 * limit (signed-graphql.ts).
 */
export function graphqlBodyLimit(maxBytes = GRAPHQL_BODY_LIMIT): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'POST' || !url.pathname.startsWith('/graphql')) return;
      const length = declaredLength(request);
      if (length !== null && length > maxBytes) endResponse(bodyTooLarge(fetchAPI, maxBytes, length));
    },
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || !request.body || declaredLength(request) !== null) return;
      setRequestParser(async (req) => {
        const counted = countedBody(req, maxBytes, fetchAPI);
        try {
          return await requestParser(counted.request);
        } catch (error) {
          // The JSON parser passes the stream's error on; the form parser (multipart) wraps it in a 400.
          throw counted.exceeded() ? tooLargeError(maxBytes) : error;
        }
      });
    },
  };
}

/** Content-Length when it is one plain number (over HTTP, Node refuses anything else; in-process callers may send anything). */
function declaredLength(request: Request): number | null {
  const header = request.headers.get('content-length');
  return header !== null && /^\d+$/.test(header) ? Number(header) : null;
}

const tooLargeError = (maxBytes: number) => new GraphQLError(tooLarge(maxBytes), { extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } } });

/** `request` whose body errors (→ 413) once more than `maxBytes` have streamed, and whether it did. */
function countedBody(request: Request, maxBytes: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): { request: Request; exceeded: () => boolean } {
  let read = 0;
  // A native body stream needs the native TransformStream, a ponyfilled one the adapter's (as yoga does, graphql-yoga#4583).
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const counted = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > maxBytes) {
          controller.error(tooLargeError(maxBytes));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return {
    request: new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit),
    exceeded: () => read > maxBytes,
  };
}
