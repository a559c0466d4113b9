import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
const secret = process.env.SECRET;
const reply = Buffer.from(JSON.stringify({ results: [{ eventId: '00000000-0000-0000-0000-000000000000', status: 'CREATED', entityType: 'Payment', entityId: '00000000-0000-0000-0000-000000000000', message: null, module: 'BTEC_Payments' }] }));
createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const mac = Buffer.from('sha256=' + createHmac('sha256', secret).update(body).digest('hex'));
    const sig = Buffer.from(req.headers['x-signature-256'] ?? '');
    if (sig.length !== mac.length || !timingSafeEqual(sig, mac)) { res.writeHead(401); res.end(); return; }
    JSON.parse(body.toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
