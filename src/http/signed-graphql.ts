import type { Plugin } from 'graphql-yoga';
import { verifySignature } from '../auth/signature.js';
import { db } from '../db/client.js';
import { tenantSecrets } from '../db/tenants.js';
import { bodyTooLarge, GRAPHQL_BODY_LIMIT } from './body-limit.js';
import { readBodyWithin } from './bounded-body.js';

/**
 * A POST /graphql carrying X-Signature-256 (HMAC of the raw body with the tenant's webhook
 * secret) acts as an `integration` viewer of that tenant, so senders that sign webhooks can
 * call the ingest mutations without a JWT. The body is read from a clone before Yoga parses
 * it. A wrong signature is a 401, never anonymous access.
 */
export function signedGraphQLRequests(options: { defaultTenant: string; signedTenants: WeakMap<Request, string> }): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const signature = request.headers.get('x-signature-256');
      if (!signature || request.method !== 'POST' || !url.pathname.startsWith('/graphql')) return;
      const tenantId = request.headers.get('x-tenant-id')?.trim() || options.defaultTenant;
      // Read within the limit: this runs before the body limit's counting (onRequestParse).
      const body = await readBodyWithin(request.clone(), GRAPHQL_BODY_LIMIT);
      if (!body) {
        endResponse(bodyTooLarge(fetchAPI, GRAPHQL_BODY_LIMIT));
        return;
      }
      let tenant: { webhookSecret: string } | null;
      try {
        tenant = await tenantSecrets(db, tenantId);
      } catch {
        // The signature cannot be checked without the tenant's secret: the sender must retry.
        endResponse(
          fetchAPI.Response.json(
            { errors: [{ message: 'The database is unavailable; nothing was stored. Retry later.', extensions: { code: 'SERVICE_UNAVAILABLE' } }] },
            { status: 503, headers: { 'retry-after': '5' } },
          ),
        );
        return;
      }
      if (tenant && verifySignature(body, signature, tenant.webhookSecret)) {
        options.signedTenants.set(request, tenantId);
        return;
      }
      endResponse(
        fetchAPI.Response.json(
          { errors: [{ message: `X-Signature-256 does not match the body for tenant "${tenantId}"`, extensions: { code: 'UNAUTHENTICATED' } }] },
          { status: 401 },
        ),
      );
    },
  };
}
