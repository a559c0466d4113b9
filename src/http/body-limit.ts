import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * POST /graphql bodies over `maxBytes` get 413. By Content-Length before anything reads them;
 * a body without one (chunked) is counted as it streams. A body with Content-Length cannot run
 * past it (HTTP framing), so only chunked ones pay for the counting stream: yoga's own limit
 * (maxRequestBodySize, off in app.ts) pipes every body through one, ≈ 5–8 % of a cached
 * dashboard's CPU (bench S2 profile: the stream pipeline and its AbortSignal per request).
 */
export function graphqlBodyLimit(maxBytes = 1024 * 1024): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'POST' || !url.pathname.startsWith('/graphql')) return;
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > maxBytes) {
        endResponse(
          fetchAPI.Response.json(
            { errors: [{ message: `request body of ${length} bytes exceeds the limit of ${maxBytes} bytes`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }] },
            { status: 413 },
          ),
        );
      }
    },
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      if (!requestParser || !request.body || request.headers.has('content-length')) return;
      setRequestParser((req) => requestParser(countedBody(req, maxBytes, fetchAPI)));
    },
  };
}

/** `request` whose body errors (→ 413) once more than `maxBytes` have streamed. */
function countedBody(request: Request, maxBytes: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  let read = 0;
  // A native body stream needs the native TransformStream, a ponyfilled one the adapter's (as yoga does, graphql-yoga#4583).
  const Transform = request.body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  const counted = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > maxBytes) {
          controller.error(new GraphQLError(`request body exceeds the limit of ${maxBytes} bytes`, { extensions: { code: 'PAYLOAD_TOO_LARGE', http: { status: 413 } } }));
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}
