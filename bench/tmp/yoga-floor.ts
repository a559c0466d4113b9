import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { createYoga, createSchema } from 'graphql-yoga';
const secret = process.env.SECRET!;
const yoga = createYoga({
  schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }),
  logging: false,
  plugins: [{
    async onRequest({ url, request, endResponse }: any) {
      if (url.pathname !== '/webhooks/zoho' && url.pathname !== '/webhooks/moodle') return;
      const body = Buffer.from(await request.arrayBuffer());
      createHmac('sha256', secret).update(body).digest('hex');
      JSON.parse(body.toString('utf8'));
      endResponse(Response.json({ results: [{ eventId: '00000000-0000-0000-0000-000000000000', status: 'CREATED', entityType: 'Payment', entityId: '00000000-0000-0000-0000-000000000000', message: null, module: 'BTEC_Payments' }] }));
    },
  }],
});
createServer(yoga).listen(Number(process.env.PORT), '127.0.0.1');
