// The webhook floor: node:http doing only what any webhook receiver must — read the body,
// check its HMAC-SHA256 signature, parse the JSON — and answering one result, with no database.
// Driven by S3's sender with S3's webhooks, its rate bounds S3 on this machine from above.
// Env: PORT, SECRET.
import { createServer } from 'node:http';
import { receiveSigned, replyJson } from './receive.mjs';

const result = { eventId: '00000000-0000-4000-8000-000000000000', status: 'CREATED', entityType: 'Payment', entityId: '00000000-0000-4000-8000-000000000000', message: null, module: 'BTEC_Payments' };
createServer(receiveSigned(process.env.SECRET, (_body, _text, res) => replyJson(res, 200, { results: [result] }))).listen(Number(process.env.PORT), '127.0.0.1');
