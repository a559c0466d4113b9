// The transport floor: node:http answering every POST /graphql with the same bytes (a real
// dashboard response captured by the bench), doing nothing else. Whatever latency and
// throughput it shows under the bench's load generator bounds every GraphQL server on this
// machine from below. Env: PORT, BODY_FILE.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const body = readFileSync(process.env.BODY_FILE);
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };
createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(body);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
