// What any webhook receiver must do before anything else, shared by the two webhook floors: read
// the body, check its HMAC-SHA256 signature (X-Signature-256: sha256=<hex>), parse the JSON.
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Calls `handle(body, text)` with a POST's verified, parsed body; answers a GET 200 (readiness),
 * a bad signature 401 and malformed JSON 400 itself.
 */
export function receiveSigned(secret, handle) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST') return void res.writeHead(200).end();
      const body = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-signature-256'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return void res.writeHead(401).end();
      const text = body.toString('utf8');
      try {
        JSON.parse(text);
      } catch {
        return void res.writeHead(400).end();
      }
      handle(body, text, res);
    });
  };
}

/** A webhook reply of one result. */
export function replyJson(res, status, value) {
  const reply = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': reply.length }).end(reply);
}
