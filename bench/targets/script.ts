/**
 * The `script` benchmark target: the Fleet OS-update flow written by hand without the
 * engine, as a baseline for what the engine costs. It acknowledges each webhook with 201,
 * then checks the failing policies with JSONata, fetches the host from Fleet, builds the
 * ScheduleOSUpdate plist with Handlebars and posts it, base64-encoded, to Fleet.
 * Expressions and the template are compiled once, and Fleet is reached through keep-alive
 * connections, as a careful hand-written script would do.
 *
 * Usage: FLEET_URL=... FLEET_API_TOKEN=... node dist/bench/targets/script.js --port P
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Handlebars from 'handlebars';
import jsonata from 'jsonata';
import { Pool } from 'undici';
import { portArgument, requiredEnv } from './args.js';

const port = portArgument(process.argv);
const fleetUrl = requiredEnv('FLEET_URL');
const authorization = `Bearer ${requiredEnv('FLEET_API_TOKEN')}`;
const macosVersion = '14.5';

const errorReported = jsonata('$exists(body.error) and body.error != ""');
const policyFailing = jsonata('$count(body.failing_policies[name = "macOS - OS version up to date"]) > 0');
const plistTemplate = Handlebars.compile(
  `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Command</key>
  <dict>
    <key>RequestType</key>
    <string>ScheduleOSUpdate</string>
    <key>Updates</key>
    <array>
      <dict>
        <key>InstallAction</key>
        <string>InstallASAP</string>
        <key>ProductVersion</key>
        <string>{{version}}</string>
      </dict>
    </array>
  </dict>
  <key>CommandUUID</key>
  <string>{{uuid}}</string>
</dict>
</plist>
`,
  { noEscape: true },
);
const fleet = new Pool(fleetUrl, { connections: 32 });

let accepted = 0;
let failed = 0;

async function fleetJson(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any> {
  const response = await fleet.request({
    method,
    path,
    headers: { authorization, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${method} ${path} returned ${response.statusCode}: ${text}`);
  return JSON.parse(text);
}

async function processEvent(event: { body: any }): Promise<void> {
  if (await errorReported.evaluate(event)) return;
  if (!(await policyFailing.evaluate(event))) return;
  const { host } = await fleetJson('GET', `/api/v1/fleet/hosts/${encodeURIComponent(event.body.host_id)}?exclude_software=true`);
  const plist = plistTemplate({ version: macosVersion, uuid: randomUUID() });
  const command = Buffer.from(plist, 'utf8').toString('base64');
  await fleetJson('POST', '/api/v1/fleet/commands/run', { command, host_uuids: [host.uuid] });
}

function reportFailure(error: Error): void {
  failed++;
  // Logs the first failures and then every thousandth, so a broken Fleet cannot flood stderr.
  if (failed <= 5 || failed % 1000 === 0) console.error(`script: flow failed (${failed} so far): ${error.message}`);
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/webhook/fleet/calendar') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(`{"error":"no webhook at ${req.method} ${req.url}"}`);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `invalid JSON body: ${(error as Error).message}` }));
      return;
    }
    accepted++;
    const reply = `{"status":"accepted","id":${accepted}}`;
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': reply.length });
    res.end(reply);
    processEvent({ body }).catch(reportFailure);
  });
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
