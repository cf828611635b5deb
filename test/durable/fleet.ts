/** Shared pieces of the durability tests: a Fleet story with retry settings and webhook bodies. */
import { OS_UPDATE_POLICY, type FakeFleet } from '../../fake-fleet/server';

/** Returns the Fleet OS update story with short timeouts and backoff, so retries take ms. */
export function fleetStory(options: { getRetry?: string; postRetry?: string } = {}): string {
  const getRetry = options.getRetry ?? '{ attempts: 3, backoff: 0.02 }';
  const postRetry = options.postRetry ?? '{ attempts: 3, backoff: 0.02 }';
  return `
name: Fleet OS update
path: fleet
allow_private_networks: true
credentials:
  fleet_api_token: { env: FLEET_API_TOKEN }
resources:
  fleet_url: { env: FLEET_URL }
actions:
  - name: calendar_webhook
    type: webhook
    path: calendar
  - name: os_policy_failing
    type: trigger
    after: calendar_webhook
    when: '$count(calendar_webhook.body.failing_policies[name = "${OS_UPDATE_POLICY.name}"]) > 0'
  - name: get_host
    type: http_request
    after: os_policy_failing
    url: "{{resources.fleet_url}}/api/v1/fleet/hosts/{{calendar_webhook.body.host_id}}"
    headers:
      Authorization: "Bearer {{credentials.fleet_api_token}}"
    timeout: 0.3
    retry: ${getRetry}
  - name: mdm_command
    type: transform
    after: get_host
    payload:
      plist: |
        <?xml version="1.0" encoding="UTF-8"?>
        <plist version="1.0">
        <dict>
          <key>Command</key>
          <dict>
            <key>RequestType</key>
            <string>ScheduleOSUpdate</string>
          </dict>
          <key>CommandUUID</key>
          <string>{{uuid}}</string>
        </dict>
        </plist>
  - name: encode_command
    type: transform
    after: mdm_command
    payload:
      command: "{{base64 mdm_command.plist}}"
  - name: run_mdm_command
    type: http_request
    after: encode_command
    method: POST
    url: "{{resources.fleet_url}}/api/v1/fleet/commands/run"
    headers:
      Authorization: "Bearer {{credentials.fleet_api_token}}"
    timeout: 0.3
    retry: ${postRetry}
    body:
      command: "{{encode_command.command}}"
      host_uuids: "=[get_host.body.host.uuid]"
`;
}

/** Body of Fleet's calendar webhook for a host failing the OS update policy. */
export function calendarBody(hostId: number): Record<string, unknown> {
  return {
    timestamp: new Date().toISOString(),
    host_id: hostId,
    host_display_name: `host-${hostId}`,
    host_serial_number: `SERIAL${hostId}`,
    failing_policies: [{ id: OS_UPDATE_POLICY.id, name: OS_UPDATE_POLICY.name }],
  };
}

/** Adds `count` macOS hosts with MDM on, ids from `firstId`; returns their ids. */
export function addHosts(fleet: FakeFleet, count: number, firstId = 20_000): number[] {
  const ids: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const id = firstId + i;
    const hex = id.toString(16).toUpperCase().padStart(12, '0');
    fleet.addHost({ id, uuid: `00000000-0000-4000-8000-${hex}` });
    ids.push(id);
  }
  return ids;
}

/** Posts one calendar webhook; resolves with the status and the run id when acknowledged. */
export async function postWebhook(
  baseUrl: string,
  hostId: number,
): Promise<{ status: number; runId?: string }> {
  const response = await fetch(`${baseUrl}/webhook/fleet/calendar`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(calendarBody(hostId)),
  });
  const body = (await response.json()) as { run_id?: string };
  return { status: response.status, runId: body.run_id };
}
