// The webhook floor: node:http doing only what any webhook receiver must — read the body,
// check its HMAC-SHA256 signature, parse the JSON — and answering one result, with no database.
// Driven by S3's sender with S3's webhooks, its rate bounds S3 on this machine from above.
// Env: PORT, SECRET.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const secret = process.env.SECRET;
const reply = Buffer.from(JSON.stringify({ results: [{ eventId: '00000000-0000-4000-8000-000000000000', status: 'CREATED', entityType: 'Payment', entityId: '00000000-0000-4000-8000-000000000000', message: null, module: 'BTEC_Payments' }] }));
createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-signature-256'] ?? ''));
    if (req.method === 'POST' && (given.length !== expected.length || !timingSafeEqual(given, expected))) {
      res.writeHead(401).end();
      return;
    }
    if (req.method === 'POST') JSON.parse(body.toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length }).end(reply);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
