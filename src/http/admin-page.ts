import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Plugin } from 'graphql-yoga';

const page = readFileSync(new URL('./admin.html', import.meta.url), 'utf8');
// The graphql-ws browser build, served locally: the page works without internet access.
// (not in the package's exports map: found beside its resolved entry point)
const graphqlWsEntry = createRequire(import.meta.url).resolve('graphql-ws');
const graphqlWsScript = readFileSync(path.join(path.dirname(graphqlWsEntry), '..', 'umd', 'graphql-ws.min.js'), 'utf8');

/** GET /admin: the live sync page (recent events, counts per status, parked backlog). It asks for an admin token. */
export function adminPage(): Plugin {
  return {
    onRequest({ url, request, endResponse, fetchAPI }) {
      if (request.method !== 'GET') return;
      if (url.pathname === '/admin' || url.pathname === '/admin/') {
        endResponse(new fetchAPI.Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } }));
      } else if (url.pathname === '/admin/graphql-ws.js') {
        endResponse(new fetchAPI.Response(graphqlWsScript, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' } }));
      }
    },
  };
}
