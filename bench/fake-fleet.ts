/**
 * A fast fake Fleet for the benchmark, run as a forked child. It serves the two routes the
 * Fleet story calls, checks the bearer token, and records when each host's MDM command
 * arrives. The parent reads and clears the records over IPC.
 *
 * Usage: fork('dist/bench/fake-fleet.js', [token]); the child sends `{ready, port}` once
 * it listens on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostIdOf, hostUuid, nowUs } from './common.js';

const token = process.argv[2];
if (!token) {
  console.error('fake-fleet: missing the API token argument; pass it as the first argument');
  process.exit(2);
}
const expectedAuthorization = `Bearer ${token}`;

const HOST_PATH = /^\/api\/(?:v1|latest)\/fleet\/hosts\/(\d+)$/;
const RUN_PATH = /^\/api\/(?:v1|latest)\/fleet\/commands\/run$/;
const COMMAND_UUID = /<key>CommandUUID<\/key>\s*<string>([^<]+)<\/string>/;

/** First arrival time (µs) of a command, by host UUID, since the parent last took them. */
let arrivals = new Map<string, number>();
const counters = {
  hostGets: 0,
  commands: 0,
  duplicateCommands: 0,
  rejectedToken: 0,
  rejectedCommand: 0,
  unknownRoute: 0,
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function fleetError(res: ServerResponse, status: number, message: string, name: string, reason: string): void {
  sendJson(res, status, { message, errors: [{ name, reason }] });
}

function getHost(res: ServerResponse, id: number): void {
  counters.hostGets++;
  sendJson(res, 200, {
    host: {
      id,
      uuid: hostUuid(id),
      platform: 'darwin',
      hostname: `bench-${id}.local`,
      display_name: `bench-${id}`,
      hardware_serial: `BENCH${id}`,
      os_version: 'macOS 14.4',
    },
  });
}

/** Checks just enough of the command to know it is a ScheduleOSUpdate, then records it. */
function runCommand(res: ServerResponse, text: string): void {
  let body: { command?: unknown; host_uuids?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    counters.rejectedCommand++;
    return fleetError(res, 400, 'Bad request', 'base', 'request body is not JSON');
  }
  const hostUuids = body.host_uuids;
  if (typeof body.command !== 'string' || !Array.isArray(hostUuids) || hostUuids.length === 0) {
    counters.rejectedCommand++;
    return fleetError(res, 422, 'Validation Failed', 'command', 'command and host_uuids are required');
  }
  const plist = Buffer.from(body.command, 'base64').toString('utf8');
  const commandUuid = COMMAND_UUID.exec(plist)?.[1];
  if (!commandUuid || !plist.includes('<string>ScheduleOSUpdate</string>')) {
    counters.rejectedCommand++;
    return fleetError(res, 415, 'Validation Failed', 'command', 'unable to decode plist command');
  }
  const arrivedUs = nowUs();
  for (const uuid of hostUuids) {
    if (typeof uuid !== 'string' || Number.isNaN(hostIdOf(uuid))) {
      counters.rejectedCommand++;
      return fleetError(res, 400, 'Validation Failed', 'host_uuids', `unknown host uuid ${String(uuid)}`);
    }
    if (arrivals.has(uuid)) counters.duplicateCommands++;
    else arrivals.set(uuid, arrivedUs);
  }
  counters.commands++;
  sendJson(res, 200, { command_uuid: commandUuid, request_type: 'ScheduleOSUpdate', platform: 'darwin' });
}

function handle(req: IncomingMessage, res: ServerResponse, text: string): void {
  const target = req.url ?? '';
  const queryStart = target.indexOf('?');
  const url = queryStart < 0 ? target : target.slice(0, queryStart);
  if (req.headers.authorization !== expectedAuthorization) {
    counters.rejectedToken++;
    return fleetError(res, 401, 'Authentication required', 'base', 'Authentication required');
  }
  const hostMatch = req.method === 'GET' ? HOST_PATH.exec(url) : null;
  if (hostMatch) return getHost(res, Number(hostMatch[1]));
  if (req.method === 'POST' && RUN_PATH.test(url)) return runCommand(res, text);
  counters.unknownRoute++;
  fleetError(res, 404, 'Resource Not Found', 'base', `no route ${req.method} ${url}`);
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
});

process.on('message', (message: { callId: number; type: string }) => {
  if (message.type === 'stats') {
    process.send!({ replyTo: message.callId, arrived: arrivals.size, ...counters });
  } else if (message.type === 'take') {
    // Hands over and clears the records, so each phase gets only its own commands.
    const uuids = [...arrivals.keys()];
    const times = Float64Array.from(arrivals.values());
    arrivals = new Map();
    process.send!({ replyTo: message.callId, uuids, times, ...counters });
    for (const key of Object.keys(counters) as (keyof typeof counters)[]) counters[key] = 0;
  } else {
    process.send!({ replyTo: message.callId, error: `fake-fleet: unknown message type ${message.type}` });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send!({ ready: true, port: typeof address === 'object' && address ? address.port : 0 });
});
