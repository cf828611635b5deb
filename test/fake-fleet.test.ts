import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import {
  DEFAULT_TOKEN,
  makeHost,
  startFakeFleet,
  type FakeFleet,
  type FakeFleetOptions,
} from '../fake-fleet/server';

const MAC = '392547DC-0D5C-4E7A-9F1B-6A3C2D8E4B10';
const LINUX = '4c4c4544-0042-3510-8052-b4c04f4d4e31';
const MAC_MDM_OFF = 'A1B2C3D4-5E6F-4A0B-8C9D-0E1F2A3B4C5D';
const WINDOWS = 'E5D8F2A0-3B7C-4D19-8E6A-2F4B9C1D7A35';
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MDM_OFF_REASON =
  "Can't run the MDM command because one or more hosts have MDM turned off. " +
  'Run the following command to see a list of hosts with MDM on: fleetctl get hosts --mdm.';

interface FleetResponse {
  status: number;
  text: string;
  json: any;
  headers: Headers;
}

interface CallOptions {
  method?: string;
  authorization?: string | null;
  body?: unknown;
  signal?: AbortSignal;
}

async function call(
  fleet: FakeFleet,
  route: string,
  options: CallOptions = {},
): Promise<FleetResponse> {
  const headers: Record<string, string> = {};
  const authorization =
    options.authorization === undefined ? `Bearer ${DEFAULT_TOKEN}` : options.authorization;
  if (authorization !== null) headers.Authorization = authorization;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }
  const url = route.startsWith('/') ? `${fleet.url}${route}` : `${fleet.url}/api/v1/fleet/${route}`;
  const httpResponse = await fetch(url, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    signal: options.signal,
  });
  const text = await httpResponse.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: httpResponse.status, text, json, headers: httpResponse.headers };
}

function commandXml(fields: { uuid?: string; requestType?: string; extra?: string } = {}): string {
  const uuid =
    fields.uuid === undefined ? '' : `<key>CommandUUID</key><string>${fields.uuid}</string>`;
  const type =
    fields.requestType === undefined
      ? ''
      : `<key>RequestType</key><string>${fields.requestType}</string>`;
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" ' +
    '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    `<plist version="1.0"><dict>${uuid}<key>Command</key><dict>${type}` +
    '<key>Updates</key><array><dict><key>InstallAction</key><string>InstallASAP</string>' +
    '<key>ProductVersion</key><string>14.5</string></dict></array>' +
    `</dict>${fields.extra ?? ''}</dict></plist>`
  );
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function osUpdate(uuid: string): string {
  return base64(commandXml({ uuid, requestType: 'ScheduleOSUpdate' }));
}

/** Asserts Fleet's error body: message, one errors entry, a uuid, indent and newline. */
function expectFleetError(
  reply: FleetResponse,
  status: number,
  message: string,
  name: string,
  reason: string,
) {
  expect(reply.status, reply.text).to.equal(status);
  expect(reply.json.message).to.equal(message);
  expect(reply.json.errors).to.deep.equal([{ name, reason }]);
  expect(reply.json.uuid).to.match(UUID_SHAPE);
  expect(Object.keys(reply.json)).to.deep.equal(['message', 'errors', 'uuid']);
  expect(reply.text).to.equal(`${JSON.stringify(reply.json, null, 2)}\n`);
  expect(reply.headers.get('content-type')).to.equal('application/json; charset=utf-8');
}

describe('fake Fleet', () => {
  let fleet: FakeFleet;
  let extra: FakeFleet | undefined;

  async function startExtra(options: FakeFleetOptions): Promise<FakeFleet> {
    extra = await startFakeFleet(options);
    return extra;
  }

  beforeEach(async () => {
    fleet = await startFakeFleet();
  });

  afterEach(async () => {
    await fleet.close();
    await extra?.close();
    extra = undefined;
  });

  describe('authentication', () => {
    it('rejects a missing header', async () => {
      const reply = await call(fleet, 'hosts/11058', { authorization: null });
      expectFleetError(
        reply,
        401,
        'Authorization header required',
        'base',
        'Authorization header required',
      );
    });

    it('rejects malformed headers as missing', async () => {
      for (const header of ['Token abc', `Bearer ${DEFAULT_TOKEN} x`, 'Bearer', 'Bearer ']) {
        const reply = await call(fleet, 'hosts/11058', { authorization: header });
        expect(reply.status, header).to.equal(401);
        expect(reply.json.message, header).to.equal('Authorization header required');
      }
    });

    it('rejects an unknown token', async () => {
      const reply = await call(fleet, 'hosts/11058', { authorization: 'Bearer wrong-token' });
      expectFleetError(reply, 401, 'Authentication required', 'base', 'Authentication required');
    });

    it('accepts the scheme in any case', async () => {
      for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
        const reply = await call(fleet, 'hosts/11058', {
          authorization: `${scheme} ${DEFAULT_TOKEN}`,
        });
        expect(reply.status, scheme).to.equal(200);
      }
    });

    it('accepts only the configured tokens', async () => {
      const custom = await startExtra({ tokens: ['alpha', 'beta'] });
      expect(
        (await call(custom, 'hosts/11058', { authorization: 'Bearer alpha' })).status,
      ).to.equal(200);
      expect((await call(custom, 'hosts/11058', { authorization: 'Bearer beta' })).status).to.equal(
        200,
      );
      const rejected = await call(custom, 'hosts/11058');
      expect(rejected.status).to.equal(401);
      expect(rejected.json.message).to.equal('Authentication required');
    });
  });

  describe('routes', () => {
    it('serves every API version prefix', async () => {
      for (const version of ['v1', '2022-04', 'latest']) {
        const reply = await call(fleet, `/api/${version}/fleet/hosts/11058`);
        expect(reply.status, version).to.equal(200);
        expect(reply.json.host.id, version).to.equal(11058);
      }
    });

    it('returns 404 for an unknown route', async () => {
      const reply = await call(fleet, '/api/v2/fleet/hosts/11058');
      expect(reply.status).to.equal(404);
      expect(reply.json.message).to.equal('Resource Not Found');
      expect(reply.json.errors[0].reason).to.include('/api/v2/fleet/hosts/11058');
    });

    it('returns 405 for a wrong method', async () => {
      const reply = await call(fleet, 'commands/run', { method: 'GET' });
      expect(reply.status).to.equal(405);
      expect(reply.headers.get('allow')).to.equal('POST');
    });
  });

  describe('GET hosts/:id', () => {
    it('returns the host with the documented fields', async () => {
      const reply = await call(fleet, 'hosts/11058');
      expect(reply.status).to.equal(200);
      expect(Object.keys(reply.json)).to.deep.equal(['host']);
      const host = reply.json.host;
      for (const field of [
        'id',
        'uuid',
        'hostname',
        'display_name',
        'computer_name',
        'hardware_serial',
        'hardware_model',
        'hardware_vendor',
        'platform',
        'os_version',
        'build',
        'osquery_version',
        'orbit_version',
        'team_id',
        'team_name',
        'status',
        'seen_time',
        'issues',
        'policies',
        'labels',
        'software',
        'mdm',
        'maintenance_window',
      ]) {
        expect(host, field).to.have.property(field);
      }
      expect(host.uuid).to.equal(MAC);
      expect(host.uuid).to.equal(host.uuid.toUpperCase());
      expect(host.platform).to.equal('darwin');
      expect(host.hardware_serial).to.equal('Z5C4L7GKY0');
      expect(host.display_name).to.equal('Test Virtual Machine');
      expect(host.mdm.enrollment_status).to.equal('On (manual)');
      expect(host.mdm.name).to.equal('Fleet');
      expect(host.mdm.connected_to_fleet).to.equal(true);
      expect(host.policies[0]).to.include({ id: 479, name: 'macOS - OS version up to date' });
      expect(host.issues.failing_policies_count).to.equal(1);
      expect(reply.text.endsWith('\n')).to.equal(true);
    });

    it('serves a Linux host and a host with MDM off', async () => {
      const linux = await call(fleet, 'hosts/11059');
      expect(linux.json.host.platform).to.equal('ubuntu');
      expect(linux.json.host.uuid).to.equal(LINUX);
      expect(linux.json.host.mdm.enrollment_status).to.equal(null);
      const off = await call(fleet, 'hosts/11060');
      expect(off.json.host.platform).to.equal('darwin');
      expect(off.json.host.mdm.enrollment_status).to.equal('Off');
    });

    it('omits software when asked', async () => {
      const reply = await call(fleet, 'hosts/11058?exclude_software=true');
      expect(reply.json.host).to.not.have.property('software');
      expect(reply.json.host.id).to.equal(11058);
    });

    it('returns 404 for an unknown id', async () => {
      const reply = await call(fleet, 'hosts/123');
      expectFleetError(
        reply,
        404,
        'Resource Not Found',
        'base',
        'Host 123 was not found in the datastore',
      );
    });

    it('drops id 0 from the 404 text', async () => {
      const reply = await call(fleet, 'hosts/0');
      expectFleetError(
        reply,
        404,
        'Resource Not Found',
        'base',
        'Host was not found in the datastore',
      );
    });

    it('serves custom hosts', async () => {
      const custom = await startExtra({
        hosts: [{ id: 7, uuid: 'CUSTOM-UUID', hostname: 'lab-mac', os_version: 'macOS 13.6' }],
      });
      const reply = await call(custom, 'hosts/7');
      expect(reply.json.host.uuid).to.equal('CUSTOM-UUID');
      expect(reply.json.host.os_version).to.equal('macOS 13.6');
      expect(reply.json.host.display_name).to.equal('lab-mac');
      expect((await call(custom, 'hosts/11058')).status).to.equal(404);
    });
  });

  describe('GET hosts/identifier/:identifier', () => {
    it('finds a host by hostname, uuid or serial', async () => {
      for (const identifier of [
        'test-virtual-machine.local',
        MAC,
        MAC.toLowerCase(),
        'Z5C4L7GKY0',
      ]) {
        const reply = await call(fleet, `hosts/identifier/${encodeURIComponent(identifier)}`);
        expect(reply.status, identifier).to.equal(200);
        expect(reply.json.host.id, identifier).to.equal(11058);
      }
    });

    it('returns 404 naming the identifier', async () => {
      const reply = await call(fleet, 'hosts/identifier/no-such-host');
      expectFleetError(
        reply,
        404,
        'Resource Not Found',
        'base',
        'Host no-such-host was not found in the datastore',
      );
    });
  });

  describe('POST commands/run', () => {
    it('enqueues a command and records it', async () => {
      const command = osUpdate('6f1c2a64-63b4-4c1a-9c1e-3f1bb6d1a001');
      const reply = await call(fleet, 'commands/run', { body: { command, host_uuids: [MAC] } });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.json).to.deep.equal({
        command_uuid: '6f1c2a64-63b4-4c1a-9c1e-3f1bb6d1a001',
        request_type: 'ScheduleOSUpdate',
        platform: 'darwin',
      });
      expect(fleet.commands).to.have.length(1);
      const recorded = fleet.commands[0];
      expect(recorded.hostUuids).to.deep.equal([MAC]);
      expect(recorded.token).to.equal(DEFAULT_TOKEN);
      expect(recorded.rawCommand).to.equal(command);
      expect(recorded.payload.CommandUUID).to.equal('6f1c2a64-63b4-4c1a-9c1e-3f1bb6d1a001');
      expect(recorded.payload.Command).to.deep.equal({
        RequestType: 'ScheduleOSUpdate',
        Updates: [{ InstallAction: 'InstallASAP', ProductVersion: '14.5' }],
      });
    });

    it('serves the deprecated mdm/commands/run alias', async () => {
      const reply = await call(fleet, '/api/latest/fleet/mdm/commands/run', {
        body: { command: osUpdate('alias-1'), host_uuids: [MAC] },
      });
      expect(reply.status, reply.text).to.equal(200);
      expect(fleet.commands[0].commandUuid).to.equal('alias-1');
    });

    it('accepts unpadded base64', async () => {
      const padded = osUpdate('unpadded-1');
      expect(padded.endsWith('=')).to.equal(true);
      const reply = await call(fleet, 'commands/run', {
        body: { command: padded.replace(/=+$/, ''), host_uuids: [MAC] },
      });
      expect(reply.status, reply.text).to.equal(200);
    });

    it('accepts a binary plist', async () => {
      const plist = await import('plist');
      const binary = plist.buildBinary({
        CommandUUID: 'binary-1',
        Command: { RequestType: 'ProfileList' },
      });
      const command = Buffer.from(binary).toString('base64');
      const reply = await call(fleet, 'commands/run', { body: { command, host_uuids: [MAC] } });
      expect(reply.status, reply.text).to.equal(200);
      expect(reply.json.request_type).to.equal('ProfileList');
    });

    it('rejects a body that is not JSON', async () => {
      for (const body of ['{not json', '[]', '"text"', '{"command": 5}', '{"host_uuids": "x"}']) {
        const reply = await call(fleet, 'commands/run', { body });
        expectFleetError(reply, 400, 'Bad request', 'base', 'json decoder error');
      }
    });

    it('rejects a command that is not base64', async () => {
      for (const command of ['not base64!', 'a-b_', 'QUJD=', 'Q']) {
        const reply = await call(fleet, 'commands/run', { body: { command, host_uuids: [MAC] } });
        expectFleetError(
          reply,
          400,
          'Validation Failed',
          'command',
          'unable to decode base64 command',
        );
      }
    });

    it('rejects a command that is not an MDM plist', async () => {
      const bad = {
        'plain text': 'hello',
        empty: '',
        'broken XML': '<plist><dict><key>a</key><string>x</dict></plist>',
        'OpenStep text': '{ CommandUUID = x; Command = { RequestType = y; }; }',
        'array root': '<plist version="1.0"><array/></plist>',
        'no CommandUUID': commandXml({ requestType: 'ScheduleOSUpdate' }),
        'empty CommandUUID': commandXml({ uuid: '', requestType: 'ScheduleOSUpdate' }),
        'no RequestType': commandXml({ uuid: 'x-1' }),
        'empty RequestType': commandXml({ uuid: 'x-1', requestType: '' }),
      };
      for (const [label, xml] of Object.entries(bad)) {
        const reply = await call(fleet, 'commands/run', {
          body: { command: base64(xml), host_uuids: [MAC] },
        });
        expect(reply.status, label).to.equal(415);
        expect(reply.json.errors, label).to.deep.equal([
          { name: 'command', reason: 'unable to decode plist command' },
        ]);
      }
      expect(fleet.commands).to.have.length(0);
    });

    it('returns 404 when no listed host exists', async () => {
      const bodies = [
        { command: osUpdate('n-1'), host_uuids: ['NOPE'] },
        { command: osUpdate('n-2') },
        {},
        '',
      ];
      for (const body of bodies) {
        const reply = await call(fleet, 'commands/run', { body });
        expectFleetError(
          reply,
          404,
          'Validation Failed',
          'host_uuids',
          'No hosts targeted. Make sure you provide a valid UUID.',
        );
      }
    });

    it('returns 412 when a host has MDM off', async () => {
      for (const uuids of [[MAC_MDM_OFF], [MAC, MAC_MDM_OFF], [LINUX]]) {
        const reply = await call(fleet, 'commands/run', {
          body: { command: osUpdate('off-1'), host_uuids: uuids },
        });
        expectFleetError(reply, 412, 'Validation Failed', 'host_uuids', MDM_OFF_REASON);
      }
    });

    it('returns 422 for mixed platforms', async () => {
      const reply = await call(fleet, 'commands/run', {
        body: { command: osUpdate('mix-1'), host_uuids: [MAC, WINDOWS] },
      });
      expectFleetError(
        reply,
        422,
        'Validation Failed',
        'host_uuids',
        'All hosts must be on the same platform.',
      );
    });

    it('returns 422 for a platform without MDM', async () => {
      // Fleet checks enrollment first, so only an enrolled non-Apple, non-Windows host gets here.
      const custom = await startExtra({
        hosts: [
          {
            id: 1,
            uuid: 'CHROME-1',
            platform: 'chrome',
            mdm: { enrollment_status: 'On (manual)' },
          },
        ],
      });
      const reply = await call(custom, 'commands/run', {
        body: { command: osUpdate('chrome-1'), host_uuids: ['CHROME-1'] },
      });
      expectFleetError(
        reply,
        422,
        'Validation Failed',
        'host_uuids',
        'Invalid platform. You can only run MDM commands on Windows or Apple hosts.',
      );
    });

    it('returns 400 when the platform MDM is off in Fleet', async () => {
      const windows = await call(fleet, 'commands/run', {
        body: { command: osUpdate('win-1'), host_uuids: [WINDOWS] },
      });
      expect(windows.status).to.equal(400);
      expect(windows.json.errors[0].name).to.equal('host_uuids');
      expect(windows.json.errors[0].reason).to.match(/^Windows MDM isn't turned on\./);
      const custom = await startExtra({ appleMdmConfigured: false });
      const apple = await call(custom, 'commands/run', {
        body: { command: osUpdate('mac-1'), host_uuids: [MAC] },
      });
      expect(apple.status).to.equal(400);
      expect(apple.json.errors[0].reason).to.match(/^macOS MDM isn't turned on\./);
    });

    it('checks hosts before decoding the command', async () => {
      const unknown = await call(fleet, 'commands/run', {
        body: { command: '!!', host_uuids: ['NOPE'] },
      });
      expect(unknown.status).to.equal(404);
      const off = await call(fleet, 'commands/run', {
        body: { command: base64('junk'), host_uuids: [MAC_MDM_OFF] },
      });
      expect(off.status).to.equal(412);
      const badBoth = await call(fleet, 'commands/run', {
        body: { command: '!!', host_uuids: [MAC] },
      });
      expect(badBoth.status).to.equal(400);
    });

    it('returns 400 when known and unknown hosts mix', async () => {
      const reply = await call(fleet, 'commands/run', {
        body: { command: osUpdate('mixed-known'), host_uuids: [MAC, 'NOPE'] },
      });
      expect(reply.status).to.equal(400);
      expect(reply.json.errors[0].name).to.equal('device_ids');
      expect(reply.json.errors[0].reason).to.match(
        /^at least one of the hosts is not enrolled in MDM/,
      );
      expect(fleet.commands).to.have.length(0);
    });

    it('returns 409 for a reused CommandUUID', async () => {
      const body = { command: osUpdate('dup-1'), host_uuids: [MAC] };
      expect((await call(fleet, 'commands/run', { body })).status).to.equal(200);
      const again = await call(fleet, 'commands/run', { body });
      expect(again.status).to.equal(409);
      expect(again.json.message).to.equal('Validation Failed');
      expect(again.json.errors[0].name).to.equal('base');
      expect(again.json.errors[0].reason).to.include("Duplicate entry 'dup-1'");
      expect(fleet.commands).to.have.length(1);
    });

    it('rejects a body over 2 MiB', async () => {
      const padding = '<!--' + 'x'.repeat(2 * 1024 * 1024) + '-->';
      const command = base64(
        commandXml({ uuid: 'big-1', requestType: 'ProfileList', extra: padding }),
      );
      const reply = await call(fleet, 'commands/run', { body: { command, host_uuids: [MAC] } });
      expect(reply.status).to.equal(413);
      expect(reply.json.errors[0].reason).to.include('max size limit of 2.097MB');
      expect(fleet.commands).to.have.length(0);
      expect(fleet.requests[0].bodyBytes).to.be.greaterThan(2 * 1024 * 1024);
    });

    it('escapes HTML characters like Go', async () => {
      const reply = await call(fleet, 'hosts/identifier/a%3Cb%3E%26');
      expect(reply.text).to.include('Host a\\u003cb\\u003e\\u0026 was not found');
      expect(reply.json.errors[0].reason).to.equal('Host a<b>& was not found in the datastore');
    });
  });

  describe('command results', () => {
    it('returns 404 for an unknown command', async () => {
      const reply = await call(fleet, 'commands/results?command_uuid=missing-1');
      expectFleetError(
        reply,
        404,
        'Resource Not Found',
        'base',
        'MDMCommand missing-1 was not found in the datastore',
      );
    });

    it('returns {} before any device result', async () => {
      await call(fleet, 'commands/run', {
        body: { command: osUpdate('pending-1'), host_uuids: [MAC] },
      });
      const reply = await call(fleet, 'commands/results?command_uuid=pending-1');
      expect(reply.status).to.equal(200);
      expect(reply.json).to.deep.equal({});
    });

    it('returns stored device results', async () => {
      const command = osUpdate('done-1');
      await call(fleet, 'commands/run', { body: { command, host_uuids: [MAC] } });
      fleet.setCommandResult('done-1', MAC, { status: 'Acknowledged', result: '<plist/>' });
      const reply = await call(fleet, '/api/latest/fleet/commands/results?command_uuid=done-1');
      expect(reply.status).to.equal(200);
      expect(reply.json.results).to.have.length(1);
      const result = reply.json.results[0];
      expect(result).to.include({
        host_uuid: MAC,
        command_uuid: 'done-1',
        status: 'Acknowledged',
        request_type: 'ScheduleOSUpdate',
        hostname: 'test-virtual-machine.local',
      });
      expect(Buffer.from(result.payload, 'base64').toString()).to.include('ScheduleOSUpdate');
      expect(Buffer.from(result.result, 'base64').toString()).to.equal('<plist/>');
      expect(() => fleet.setCommandResult('nope', MAC, { status: 'Error' })).to.throw(/nope/);
    });

    it('lists commands with filters', async () => {
      await call(fleet, 'commands/run', {
        body: { command: osUpdate('list-1'), host_uuids: [MAC] },
      });
      const profileList = base64(commandXml({ uuid: 'list-2', requestType: 'ProfileList' }));
      await call(fleet, 'commands/run', { body: { command: profileList, host_uuids: [MAC] } });
      const all = await call(fleet, 'commands');
      expect(all.json.results.map((row: any) => row.command_uuid)).to.deep.equal([
        'list-1',
        'list-2',
      ]);
      expect(all.json.results[0]).to.include({
        host_uuid: MAC,
        status: 'Pending',
        hostname: 'test-virtual-machine.local',
      });
      const byType = await call(fleet, 'commands?request_type=ProfileList');
      expect(byType.json.results.map((row: any) => row.command_uuid)).to.deep.equal(['list-2']);
      const byHost = await call(fleet, 'commands?host_identifier=build-runner-07');
      expect(byHost.json.results).to.deep.equal([]);
      const paged = await call(fleet, 'commands?per_page=1&page=1');
      expect(paged.json.results.map((row: any) => row.command_uuid)).to.deep.equal(['list-2']);
    });
  });

  describe('recording', () => {
    it('records every request', async () => {
      const before = Date.now();
      await call(fleet, 'hosts/11058?exclude_software=true');
      await call(fleet, 'commands/run', {
        body: { command: osUpdate('rec-1'), host_uuids: [MAC] },
      });
      await call(fleet, 'hosts/1', { authorization: null });
      expect(fleet.requests.map((request) => `${request.method} ${request.path}`)).to.deep.equal([
        'GET /api/v1/fleet/hosts/11058',
        'POST /api/v1/fleet/commands/run',
        'GET /api/v1/fleet/hosts/1',
      ]);
      expect(fleet.requests[0].query).to.deep.equal({ exclude_software: 'true' });
      expect(fleet.requests[0].headers.authorization).to.equal(`Bearer ${DEFAULT_TOKEN}`);
      expect(fleet.requests[1].body).to.deep.equal({
        command: osUpdate('rec-1'),
        host_uuids: [MAC],
      });
      expect(fleet.requests[2].headers).to.not.have.property('authorization');
      expect(fleet.requests[0].time.getTime()).to.be.at.least(before);
    });

    it('forgets everything on reset', async () => {
      await call(fleet, 'commands/run', {
        body: { command: osUpdate('reset-1'), host_uuids: [MAC] },
      });
      fleet.injectFault({ route: 'hosts/:id', status: 500 });
      fleet.reset();
      expect(fleet.requests).to.have.length(0);
      expect(fleet.commands).to.have.length(0);
      expect((await call(fleet, 'hosts/11058')).status).to.equal(200);
      expect((await call(fleet, 'commands/results?command_uuid=reset-1')).status).to.equal(404);
    });
  });

  describe('faults', () => {
    it('injects a status once', async () => {
      fleet.injectFault({ route: 'commands/run', status: 503, retryAfter: 2 });
      const body = { command: osUpdate('fault-1'), host_uuids: [MAC] };
      const failed = await call(fleet, 'commands/run', { body });
      expect(failed.status).to.equal(503);
      expect(failed.headers.get('retry-after')).to.equal('2');
      expect(failed.json.message).to.equal('Service Unavailable');
      expect(failed.json.errors[0].name).to.equal('base');
      expect(fleet.commands).to.have.length(0);
      const retried = await call(fleet, 'commands/run', { body });
      expect(retried.status).to.equal(200);
      expect(fleet.commands).to.have.length(1);
    });

    it('sends a custom body and counts times', async () => {
      fleet.injectFault({
        route: 'hosts/:id',
        method: 'GET',
        status: 429,
        body: 'slow down',
        times: 2,
      });
      const first = await call(fleet, 'hosts/11058');
      expect(first.status).to.equal(429);
      expect(first.text).to.equal('slow down');
      expect(first.headers.get('retry-after')).to.equal(null);
      expect((await call(fleet, 'hosts/11059')).status).to.equal(429);
      expect((await call(fleet, 'hosts/11058')).status).to.equal(200);
    });

    it('matches only the route and method given', async () => {
      fleet.injectFault({ route: 'commands/run', method: 'POST', status: 500 });
      expect((await call(fleet, 'hosts/11058')).status).to.equal(200);
      expect((await call(fleet, 'commands/run', { method: 'PUT' })).status).to.equal(405);
      expect(
        (await call(fleet, '/api/latest/fleet/mdm/commands/run', { body: {} })).status,
      ).to.equal(404);
      expect((await call(fleet, 'commands/run', { body: {} })).status).to.equal(500);
    });

    it('applies before authentication', async () => {
      fleet.injectFault({ route: /\/hosts\//, status: 502 });
      const reply = await call(fleet, 'hosts/11058', { authorization: null });
      expect(reply.status).to.equal(502);
    });

    it('resets the connection', async () => {
      fleet.injectFault({ route: 'hosts/:id', reset: true });
      let failure: unknown;
      try {
        await call(fleet, 'hosts/11058');
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(TypeError);
      expect(fleet.requests).to.have.length(1);
      expect((await call(fleet, 'hosts/11058')).status).to.equal(200);
    });

    it('delays a response', async () => {
      fleet.injectFault({ route: 'hosts/:id', delayMs: 150 });
      const started = Date.now();
      const reply = await call(fleet, 'hosts/11058');
      expect(reply.status).to.equal(200);
      expect(Date.now() - started).to.be.at.least(140);
    });

    it('delays past a client timeout', async () => {
      fleet.injectFault({ route: 'hosts/:id', delayMs: 5000 });
      let failure: unknown;
      try {
        await call(fleet, 'hosts/11058', { signal: AbortSignal.timeout(100) });
      } catch (error) {
        failure = error;
      }
      expect((failure as Error).name).to.equal('TimeoutError');
      const started = Date.now();
      await fleet.close();
      expect(Date.now() - started).to.be.below(1000);
      fleet = await startFakeFleet();
    });

    it('takes faults from the options', async () => {
      const custom = await startExtra({ faults: [{ route: 'hosts/11058', status: 500 }] });
      expect((await call(custom, 'hosts/11058')).status).to.equal(500);
      expect((await call(custom, 'hosts/11058')).status).to.equal(200);
    });

    it('rejects a fault without effect', () => {
      expect(() => fleet.injectFault({ route: 'hosts/:id' })).to.throw(/has no effect/);
      expect(() => fleet.injectFault({ route: 'hosts/:id', status: 500, times: 0 })).to.throw(
        /positive integer, got 0/,
      );
    });
  });

  describe('addHost', () => {
    it('adds a host that commands can target', async () => {
      const host = fleet.addHost(makeHost({ id: 99, uuid: 'NEW-MAC-99' }));
      expect(host.mdm.connected_to_fleet).to.equal(true);
      expect((await call(fleet, 'hosts/99')).json.host.uuid).to.equal('NEW-MAC-99');
      const reply = await call(fleet, 'commands/run', {
        body: { command: osUpdate('new-1'), host_uuids: ['NEW-MAC-99'] },
      });
      expect(reply.status).to.equal(200);
    });
  });
});

describe('fake Fleet CLI', () => {
  it('prints its URL and stops on SIGTERM', async () => {
    const main = path.join(__dirname, '..', 'fake-fleet', 'main.js');
    const child = spawn(process.execPath, [main, '--port', '0', '--token', 'cli-token'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
      const url = chunk.toString().split('\n')[0];
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${url}/api/v1/fleet/hosts/11058`, {
        headers: { Authorization: 'Bearer cli-token' },
      });
      expect(response.status).to.equal(200);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('rejects an invalid port', async () => {
    const main = path.join(__dirname, '..', 'fake-fleet', 'main.js');
    const child = spawn(process.execPath, [main, '--port', 'eighty'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    expect(code).to.equal(2);
    expect(stderr).to.include('invalid --port "eighty"');
  });
});
