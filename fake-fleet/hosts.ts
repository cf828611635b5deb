/**
 * Host fixtures of the fake Fleet, shaped like the `host` object of Fleet's
 * `GET /api/v1/fleet/hosts/:id` response (the fields the story and its neighbours read).
 */
import type { Json } from '../engine/types.js';

export interface FakeHostMdm {
  /** `"On (manual)"`, `"On (automatic)"`, `"Off"` or null when the platform has no MDM. */
  enrollment_status: string | null;
  name: string;
  connected_to_fleet: boolean | null;
  server_url: string | null;
  device_status: string | null;
  pending_action: string | null;
  macos_settings: Json;
  os_settings: Json;
  profiles: Json[] | null;
}

export interface FakeHostPolicy {
  id: number;
  name: string;
  /** `"pass"`, `"fail"` or `""` when the host has not reported yet. */
  response: string;
  critical: boolean;
  calendar_events_enabled: boolean;
}

export interface FakeHost {
  id: number;
  /** Hardware UUID, uppercase on macOS; the value MDM commands target in `host_uuids`. */
  uuid: string;
  hostname: string;
  display_name: string;
  computer_name: string;
  hardware_serial: string;
  hardware_model: string;
  hardware_vendor: string;
  /** Fleet's platform name: `darwin`, `windows`, `ubuntu`, `rhel`, `ios`, `ipados`… */
  platform: string;
  os_version: string;
  build: string;
  osquery_version: string;
  orbit_version: string | null;
  team_id: number | null;
  team_name: string | null;
  status: string;
  seen_time: string;
  issues: {
    failing_policies_count: number;
    critical_vulnerabilities_count: number;
    total_issues_count: number;
  };
  policies: FakeHostPolicy[];
  labels: Json[];
  software: Json[];
  mdm: FakeHostMdm;
  maintenance_window: { starts_at: string; timezone: string | null } | null;
}

/** Host description given by a test: id and uuid are required, every other field defaults. */
export type FakeHostInput = Pick<FakeHost, 'id' | 'uuid'> &
  Partial<Omit<FakeHost, 'mdm'>> & { mdm?: Partial<FakeHostMdm> };

export const OS_UPDATE_POLICY = { id: 479, name: 'macOS - OS version up to date' };

const MDM_OFF: FakeHostMdm = {
  enrollment_status: 'Off',
  name: '',
  connected_to_fleet: false,
  server_url: null,
  device_status: null,
  pending_action: null,
  macos_settings: null,
  os_settings: null,
  profiles: null,
};

const MDM_ON: FakeHostMdm = {
  enrollment_status: 'On (manual)',
  name: 'Fleet',
  connected_to_fleet: true,
  server_url: 'https://fleet.invalid/mdm/apple/mdm',
  device_status: 'unlocked',
  pending_action: '',
  macos_settings: { disk_encryption: null, action_required: null },
  os_settings: { disk_encryption: { status: null, detail: '' } },
  profiles: [],
};

/** Builds a complete host from the fields given, with a macOS host enrolled in MDM as base. */
export function makeHost(input: FakeHostInput): FakeHost {
  const { id, uuid, mdm, ...fields } = input;
  const hostname = fields.hostname ?? `host-${id}.local`;
  const policies = fields.policies ?? [];
  const failing = policies.filter((policy) => policy.response === 'fail').length;
  return {
    id,
    uuid,
    hostname,
    display_name: fields.display_name ?? hostname,
    computer_name: fields.computer_name ?? hostname,
    hardware_serial: '',
    hardware_model: 'MacBookPro18,3',
    hardware_vendor: 'Apple Inc.',
    platform: 'darwin',
    os_version: 'macOS 14.4.1',
    build: '23E224',
    osquery_version: '5.12.1',
    orbit_version: '1.28.0',
    team_id: null,
    team_name: null,
    status: 'online',
    seen_time: '2024-03-28T18:55:02Z',
    issues: {
      failing_policies_count: failing,
      critical_vulnerabilities_count: 0,
      total_issues_count: failing,
    },
    labels: [],
    software: [],
    maintenance_window: null,
    ...fields,
    policies,
    mdm: { ...MDM_ON, ...mdm },
  };
}

/**
 * Default fixtures: the macOS host of the calendar webhook example (id 11058, MDM on, failing
 * the OS update policy), an Ubuntu host without MDM, a macOS host with MDM turned off and a
 * Windows host enrolled in Fleet's MDM.
 */
export function defaultHosts(): FakeHost[] {
  return [
    makeHost({
      id: 11058,
      uuid: '392547DC-0D5C-4E7A-9F1B-6A3C2D8E4B10',
      hostname: 'test-virtual-machine.local',
      display_name: 'Test Virtual Machine',
      computer_name: 'Test Virtual Machine',
      hardware_serial: 'Z5C4L7GKY0',
      team_id: 1,
      team_name: 'Workstations',
      policies: [
        { ...OS_UPDATE_POLICY, response: 'fail', critical: false, calendar_events_enabled: true },
      ],
      maintenance_window: { starts_at: '2024-03-28T18:30:00Z', timezone: 'America/Chicago' },
    }),
    makeHost({
      id: 11059,
      uuid: '4c4c4544-0042-3510-8052-b4c04f4d4e31',
      hostname: 'build-runner-07',
      hardware_serial: '7B5N2Q3',
      hardware_model: 'PowerEdge R640',
      hardware_vendor: 'Dell Inc.',
      platform: 'ubuntu',
      os_version: 'Ubuntu 22.04.4 LTS',
      build: '',
      mdm: { ...MDM_OFF, enrollment_status: null },
    }),
    makeHost({
      id: 11060,
      uuid: 'A1B2C3D4-5E6F-4A0B-8C9D-0E1F2A3B4C5D',
      hostname: 'kiosk-mac-mini.local',
      hardware_serial: 'C07ZK1ABJYVX',
      hardware_model: 'Macmini9,1',
      mdm: MDM_OFF,
    }),
    makeHost({
      id: 11061,
      uuid: 'E5D8F2A0-3B7C-4D19-8E6A-2F4B9C1D7A35',
      hostname: 'DESKTOP-7Q2M4KD',
      hardware_serial: 'PF3XK9LM',
      hardware_model: 'ThinkPad T14 Gen 3',
      hardware_vendor: 'LENOVO',
      platform: 'windows',
      os_version: 'Windows 11 Pro 23H2 22631.3296',
      build: '22631.3296',
      mdm: { enrollment_status: 'On (automatic)', macos_settings: null },
    }),
  ];
}

/** True when Fleet would treat the host as enrolled in its own MDM. */
export function isFleetEnrolled(host: FakeHost): boolean {
  const status = host.mdm.enrollment_status ?? '';
  return host.mdm.connected_to_fleet === true && status.startsWith('On');
}

/** Platform family used to route MDM commands: `darwin` for every Apple platform. */
export function commandPlatform(host: FakeHost): string {
  if (['darwin', 'ios', 'ipados'].includes(host.platform)) return 'darwin';
  if (host.platform === 'windows') return 'windows';
  return host.platform;
}
