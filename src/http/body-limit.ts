import type { Plugin } from 'graphql-yoga';

/** POST /graphql bodies over `maxBytes` (by Content-Length) get 413 before anything reads them. */
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
  };
}
