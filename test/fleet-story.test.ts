import path from 'node:path';
import { expect } from 'chai';
import { startFakeFleet, type FakeFleet } from '../fake-fleet/server';
import type { EventRecord, RunRecord } from '../engine/types';
import { startEngine, type TestEngine } from './helpers/engine';

const STORY = path.join(__dirname, '..', '..', 'stories', 'fleet-os-update.yaml');
const TOKEN = 'fleet-api-token-5f2c9e71';
const REJECTED_TOKEN = 'revoked-token-8d41b0a3';
const MAC = '392547DC-0D5C-4E7A-9F1B-6A3C2D8E4B10';
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Builds the calendar webhook that Fleet sends when host 11058's maintenance window starts. */
function calendarPayload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timestamp: '2024-03-28T13:57:31.668954-05:00',
    host_id: 11058,
    host_display_name: 'Test Virtual Machine',
    host_serial_number: 'Z5C4L7GKY0',
    failing_policies: [{ id: 479, name: 'macOS - OS version up to date' }],
    ...overrides,
  };
}

async function sendWebhook(engine: TestEngine, payload: unknown): Promise<RunRecord> {
  const response = await fetch(`${engine.url}/webhook/fleet/calendar`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  expect(response.status, 'webhook status').to.be.within(200, 299);
  const { run_id: runId } = (await response.json()) as { run_id: string };
  return engine.runner.waitForRun(runId);
}

function statuses(events: EventRecord[]): Record<string, string> {
  return Object.fromEntries(events.map((event) => [event.action, event.status]));
}

describe('Fleet story against the fake Fleet', () => {
  let fleet: FakeFleet;
  let engine: TestEngine;

  before(async () => {
    fleet = await startFakeFleet({ tokens: [TOKEN] });
    engine = await startEngine([STORY], {
      env: { FLEET_URL: fleet.url, FLEET_API_TOKEN: TOKEN },
    });
  });

  after(async () => {
    await engine.stop();
    await fleet.close();
  });

  beforeEach(() => {
    fleet.reset();
  });

  it('schedules one macOS update', async () => {
    const run = await sendWebhook(engine, calendarPayload());
    expect(run.status, String(run.error)).to.equal('succeeded');

    expect(fleet.commands).to.have.length(1);
    const command = fleet.commands[0];
    const updates = (command.payload.Command as { Updates: Record<string, unknown>[] }).Updates;
    expect(command.requestType).to.equal('ScheduleOSUpdate');
    expect(updates).to.have.length(1);
    expect(updates[0].InstallAction).to.equal('InstallASAP');
    expect(updates[0].ProductVersion).to.equal('14.5');
    expect(command.commandUuid).to.match(UUID_SHAPE);
    expect(command.hostUuids).to.deep.equal([MAC]);
    expect(command.token).to.equal(TOKEN);
  });

  it('sends the token on every Fleet call', async () => {
    await sendWebhook(engine, calendarPayload());
    const calls = fleet.requests.map((request) => `${request.method} ${request.path}`);
    expect(calls).to.deep.equal([
      'GET /api/v1/fleet/hosts/11058',
      'POST /api/v1/fleet/commands/run',
    ]);
    for (const request of fleet.requests) {
      expect(request.headers.authorization, request.path).to.equal(`Bearer ${TOKEN}`);
    }
  });

  it("emits Fleet's response last", async () => {
    const run = await sendWebhook(engine, calendarPayload());
    const events = await engine.store.listEvents(run.id);
    const last = events.find((event) => event.action === 'run_mdm_command');
    const payload = last?.payload as { status: number; body: Record<string, unknown> };
    expect(payload.status).to.equal(200);
    expect(payload.body).to.deep.equal({
      command_uuid: fleet.commands[0].commandUuid,
      request_type: 'ScheduleOSUpdate',
      platform: 'darwin',
    });
  });

  it('uses a fresh CommandUUID per webhook', async () => {
    const first = await sendWebhook(engine, calendarPayload());
    const second = await sendWebhook(engine, calendarPayload());
    expect(first.status).to.equal('succeeded');
    expect(second.status).to.equal('succeeded');
    expect(fleet.commands).to.have.length(2);
    expect(fleet.commands[0].commandUuid).to.not.equal(fleet.commands[1].commandUuid);
  });

  it('takes the error branch without calling Fleet', async () => {
    const payload = {
      error: 'No fleetdm.com Google account associated with this host.',
      host_display_name: 'dChYnk.uxURT',
      host_id: 2,
      host_serial_number: '',
      timestamp: '2024-03-20T09:10:00.129982-03:00',
    };
    const run = await sendWebhook(engine, payload);
    expect(run.status).to.equal('succeeded');
    expect(fleet.requests).to.have.length(0);

    const events = await engine.store.listEvents(run.id);
    expect(statuses(events)).to.deep.equal({
      calendar_webhook: 'emitted',
      webhook_error: 'emitted',
      record_webhook_error: 'emitted',
      os_policy_failing: 'skipped',
    });
    const recorded = events.find((event) => event.action === 'record_webhook_error');
    expect(recorded?.payload).to.deep.equal({
      host_id: 2,
      host_display_name: 'dChYnk.uxURT',
      error: payload.error,
    });
  });

  it('calls nothing without the OS policy', async () => {
    const otherPolicy = calendarPayload({
      failing_policies: [{ id: 12, name: 'Firewall enabled' }],
    });
    const noPolicies = calendarPayload();
    delete noPolicies.failing_policies;
    for (const [label, payload] of [
      ['other policy', otherPolicy],
      ['no failing_policies', noPolicies],
      ['empty failing_policies', calendarPayload({ failing_policies: [] })],
    ] as const) {
      const run = await sendWebhook(engine, payload);
      expect(run.status, label).to.equal('succeeded');
      const events = await engine.store.listEvents(run.id);
      expect(statuses(events), label).to.deep.equal({
        calendar_webhook: 'emitted',
        webhook_error: 'skipped',
        os_policy_failing: 'skipped',
      });
    }
    expect(fleet.requests).to.have.length(0);
  });

  it('fails the run on an unknown host', async () => {
    const run = await sendWebhook(engine, calendarPayload({ host_id: 999 }));
    expect(run.status).to.equal('failed');
    expect(run.error).to.equal(
      `get_host: GET ${fleet.url}/api/v1/fleet/hosts/999 returned 404: ` +
        'Host 999 was not found in the datastore',
    );
    expect(fleet.commands).to.have.length(0);
    expect(fleet.requests).to.have.length(1);
  });

  it('fails the run when MDM is off', async () => {
    const run = await sendWebhook(engine, calendarPayload({ host_id: 11060 }));
    expect(run.status).to.equal('failed');
    expect(run.error).to.match(
      /^run_mdm_command: POST \S+\/api\/v1\/fleet\/commands\/run returned 412: /,
    );
    expect(run.error).to.include('one or more hosts have MDM turned off');
    expect(fleet.commands).to.have.length(0);
  });
});

describe('Fleet story with a rejected token', () => {
  let fleet: FakeFleet;
  let engine: TestEngine;

  before(async () => {
    fleet = await startFakeFleet({ tokens: [TOKEN] });
    engine = await startEngine([STORY], {
      env: { FLEET_URL: fleet.url, FLEET_API_TOKEN: REJECTED_TOKEN },
    });
  });

  after(async () => {
    await engine.stop();
    await fleet.close();
  });

  it('fails the run naming action and status', async () => {
    const run = await sendWebhook(engine, calendarPayload());
    expect(run.status).to.equal('failed');
    expect(run.error).to.equal(
      `get_host: GET ${fleet.url}/api/v1/fleet/hosts/11058 returned 401: Authentication required`,
    );
    expect(fleet.commands).to.have.length(0);
  });

  it('keeps the token out of every output', async () => {
    const run = await sendWebhook(engine, calendarPayload());
    // The token did reach Fleet, so its absence below is redaction, not a missing value.
    expect(fleet.requests.at(-1)?.headers.authorization).to.equal(`Bearer ${REJECTED_TOKEN}`);

    const events = await engine.store.listEvents(run.id);
    const runs = await engine.store.listRuns({});
    expect(String(run.error)).to.not.include(REJECTED_TOKEN);
    expect(JSON.stringify(events)).to.not.include(REJECTED_TOKEN);
    expect(JSON.stringify(runs)).to.not.include(REJECTED_TOKEN);
    expect(engine.logs.length).to.be.greaterThan(0);
    expect(engine.logs.join('')).to.not.include(REJECTED_TOKEN);
  });
});
