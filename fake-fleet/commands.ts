/**
 * Fleet's "run MDM command" checks, in the order of `Service.RunMDMCommand` and
 * `enqueueAppleMDMCommand` (fleetdm/fleet `server/service/mdm.go`), plus the fake's command
 * store that the results and list endpoints read.
 */
import { DOMParser } from '@xmldom/xmldom';
import { FleetError, validationFailed } from './errors.js';
import { commandPlatform, isFleetEnrolled, type FakeHost } from './hosts.js';

/** Maximum body of a run-command request: Fleet's `MaxMDMCommandSize`, 2 MiB. */
export const MAX_COMMAND_BODY_BYTES = 2 * 1024 * 1024;

export const NO_HOSTS_TARGETED = 'No hosts targeted. Make sure you provide a valid UUID.';
export const MDM_TURNED_OFF =
  "Can't run the MDM command because one or more hosts have MDM turned off. " +
  'Run the following command to see a list of hosts with MDM on: fleetctl get hosts --mdm.';
export const MIXED_PLATFORMS = 'All hosts must be on the same platform.';
export const INVALID_PLATFORM =
  'Invalid platform. You can only run MDM commands on Windows or Apple hosts.';
export const APPLE_MDM_NOT_CONFIGURED =
  "macOS MDM isn't turned on. Visit https://fleetdm.com/docs/using-fleet to learn how to turn " +
  'on MDM.';
export const WINDOWS_MDM_NOT_CONFIGURED =
  "Windows MDM isn't turned on. For more information about setting up MDM, please visit " +
  'https://fleetdm.com/learn-more-about/windows-mdm';
export const BAD_BASE64 = 'unable to decode base64 command';
export const BAD_PLIST = 'unable to decode plist command';

/** A plist value as the `plist` package decodes it. */
export type PlistValue =
  | string
  | number
  | boolean
  | Date
  | Uint8Array
  | PlistValue[]
  | { [key: string]: PlistValue }
  | null;

export interface PlistCodec {
  parse(xml: string): PlistValue;
  parseBinary(data: Uint8Array): PlistValue;
}

/** A command the fake accepted, with the fields tests assert on. */
export interface RecordedCommand {
  commandUuid: string;
  requestType: string;
  platform: string;
  hostUuids: string[];
  /** The decoded plist: `{ CommandUUID, Command: { RequestType, … } }`. */
  payload: { [key: string]: PlistValue };
  /** The `command` field exactly as sent (base64). */
  rawCommand: string;
  /** The bearer token of the request that enqueued the command. */
  token: string;
  receivedAt: Date;
}

export interface CommandResult {
  host_uuid: string;
  command_uuid: string;
  status: string;
  updated_at: string;
  request_type: string;
  hostname: string;
  payload: string;
  result: string;
}

/** Base64 decoding like Go's `server.Base64DecodePaddingAgnostic`: standard alphabet only. */
export function decodeBase64PaddingAgnostic(text: string): Buffer | undefined {
  // Go's decoder skips CR and LF anywhere in the input.
  const compact = text.replace(/[\r\n]/g, '');
  const unpadded = compact.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded)) return undefined;
  if (unpadded.length % 4 === 1) return undefined;
  if (unpadded !== compact && compact.length % 4 !== 0) return undefined;
  return Buffer.from(unpadded, 'base64');
}

function isWellFormedXml(text: string): boolean {
  let wellFormed = true;
  const parser = new DOMParser({
    onError: (level) => {
      if (level !== 'warning') wellFormed = false;
    },
  });
  try {
    parser.parseFromString(text, 'text/xml');
  } catch {
    return false;
  }
  return wellFormed;
}

function isDict(value: PlistValue | undefined): value is { [key: string]: PlistValue } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Date) &&
    !(value instanceof Uint8Array)
  );
}

/**
 * Decodes an Apple MDM command like nanomdm's `DecodeCommand`: an XML or binary plist whose
 * top-level dict has a non-empty `CommandUUID` and `Command.RequestType`. Returns undefined for
 * anything else. OpenStep text plists are rejected, as Go's plist decoders reject them.
 */
export function decodeAppleCommand(
  raw: Buffer,
  codec: PlistCodec,
): { [key: string]: PlistValue } | undefined {
  let value: PlistValue;
  try {
    if (raw.subarray(0, 8).toString('latin1') === 'bplist00') {
      value = codec.parseBinary(new Uint8Array(raw));
    } else {
      const text = raw.toString('utf8');
      if (!text.trimStart().startsWith('<') || !isWellFormedXml(text)) return undefined;
      value = codec.parse(text);
    }
  } catch {
    return undefined;
  }
  if (!isDict(value)) return undefined;
  const command = value.Command;
  if (typeof value.CommandUUID !== 'string' || value.CommandUUID === '') return undefined;
  if (!isDict(command) || typeof command.RequestType !== 'string') return undefined;
  if (command.RequestType === '') return undefined;
  return value;
}

export interface RunCommandInput {
  command: string;
  hostUuids: string[];
  token: string;
}

export interface RunCommandContext {
  hosts: FakeHost[];
  appleMdmConfigured: boolean;
  codec: PlistCodec;
  commands: RecordedCommand[];
}

/** Applies Fleet's checks and records the command; throws FleetError on the first failure. */
export function runCommand(input: RunCommandInput, context: RunCommandContext): RecordedCommand {
  const targeted = context.hosts.filter((host) => input.hostUuids.includes(host.uuid));
  if (targeted.length === 0) throw validationFailed('host_uuids', NO_HOSTS_TARGETED, 404);

  const platforms = new Set<string>();
  for (const host of targeted) {
    if (!isFleetEnrolled(host)) throw validationFailed('host_uuids', MDM_TURNED_OFF, 412);
    platforms.add(commandPlatform(host));
  }
  if (platforms.size !== 1) throw validationFailed('host_uuids', MIXED_PLATFORMS);
  const [platform] = platforms;
  if (platform !== 'darwin' && platform !== 'windows') {
    throw validationFailed('host_uuids', INVALID_PLATFORM);
  }

  // NOTE: the fake has no Windows MDM, so Windows hosts always get Fleet's not-configured error.
  if (platform === 'windows') {
    throw validationFailed('host_uuids', WINDOWS_MDM_NOT_CONFIGURED, 400);
  }
  if (!context.appleMdmConfigured) {
    throw validationFailed('host_uuids', APPLE_MDM_NOT_CONFIGURED, 400);
  }

  const raw = decodeBase64PaddingAgnostic(input.command);
  if (raw === undefined) throw validationFailed('command', BAD_BASE64, 400);
  const payload = decodeAppleCommand(raw, context.codec);
  if (payload === undefined) throw validationFailed('command', BAD_PLIST, 415);
  const commandUuid = payload.CommandUUID as string;
  const requestType = (payload.Command as { RequestType: string }).RequestType;

  // Fleet enqueues for every listed UUID, so an unknown one next to known ones fails the
  // foreign key from nano_enrollment_queue to nano_enrollments.
  const unknown = input.hostUuids.filter((uuid) => !targeted.some((host) => host.uuid === uuid));
  if (unknown.length > 0) {
    throw validationFailed(
      'device_ids',
      'at least one of the hosts is not enrolled in MDM or is not an elegible device: ' +
        'Error 1452 (23000): Cannot add or update a child row: a foreign key constraint fails ' +
        `(enrollment id "${unknown[0]}" not in nano_enrollments)`,
      400,
    );
  }
  // NOTE: a reused CommandUUID violates the nano_commands primary key. Fleet maps MySQL error
  // 1062 to 409; the reason text is the MySQL message (newer Fleet hides it behind a generic one).
  if (context.commands.some((command) => command.commandUuid === commandUuid)) {
    throw new FleetError(
      409,
      'Validation Failed',
      'base',
      `Error 1062 (23000): Duplicate entry '${commandUuid}' for key 'nano_commands.PRIMARY'`,
    );
  }

  const recorded: RecordedCommand = {
    commandUuid,
    requestType,
    platform,
    hostUuids: [...input.hostUuids],
    payload,
    rawCommand: input.command,
    token: input.token,
    receivedAt: new Date(),
  };
  context.commands.push(recorded);
  return recorded;
}
