/**
 * The `bare` benchmark target: a node:http server that reads each webhook and acknowledges
 * it with 201, and does nothing else. It is the ceiling that the load generator and this
 * machine allow. Usage: node dist/bench/targets/bare.js --port P
 */
import { createServer } from 'node:http';
import { portArgument } from './args.js';

const port = portArgument(process.argv);
let accepted = 0;

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    accepted++;
    const body = `{"status":"accepted","id":${accepted}}`;
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
