/**
 * Guard for outgoing HTTP requests (server-side request forgery). Every connection made
 * through the guarded undici agent is checked against the address it actually connects to.
 * Host names are checked after DNS resolution, in the socket's `lookup`, so a name that
 * resolves to a public address at validation time and to an internal one later (DNS
 * rebinding) is still caught. IP literals, which Node connects to without a lookup, are
 * checked in the agent's connector before connecting. Redirects go through the same agent.
 *
 * Policy: metadata, link-local, unspecified, multicast and reserved addresses are always
 * rejected. Private and loopback addresses are rejected unless the story sets
 * `allow_private_networks: true`.
 */
import * as dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { classifyAddress, type AddressCategory } from './addresses';

/** Story-level setting that lets HTTP actions reach private and loopback addresses. */
export const ALLOW_PRIVATE_SETTING = 'allow_private_networks';

export interface OutboundPolicy {
  allowPrivateNetworks?: boolean;
}

const ALWAYS_REJECTED: ReadonlySet<AddressCategory> = new Set([
  'metadata',
  'link-local',
  'unspecified',
  'multicast',
  'reserved',
]);

const CATEGORY_TEXT: Record<AddressCategory, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private network address',
  'link-local': 'a link-local address',
  metadata: 'a cloud metadata address',
  unspecified: 'the unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

/** An outgoing connection rejected by the policy; fields carry the data for logs and events. */
export class OutboundBlockedError extends Error {
  readonly code = 'EOUTBOUNDBLOCKED';
  readonly host: string;
  readonly address: string;
  readonly category: AddressCategory;

  constructor(host: string, address: string, category: AddressCategory) {
    const target = host === address ? `${address}` : `"${host}" (resolved to ${address})`;
    const advice = ALWAYS_REJECTED.has(category)
      ? 'requests to metadata, link-local, unspecified, multicast and reserved addresses are always rejected'
      : `set ${ALLOW_PRIVATE_SETTING}: true in the story if it must reach this host`;
    super(`Request to ${target} rejected: it is ${CATEGORY_TEXT[category]}; ${advice}.`);
    this.name = 'OutboundBlockedError';
    this.host = host;
    this.address = address;
    this.category = category;
  }
}

/** Returns the error for a connection the policy rejects, or undefined when it is allowed. */
export function checkOutboundAddress(
  host: string,
  address: string,
  policy: OutboundPolicy,
): OutboundBlockedError | undefined {
  const { category } = classifyAddress(address);
  if (category === 'public') return undefined;
  if (!ALWAYS_REJECTED.has(category) && policy.allowPrivateNetworks === true) return undefined;
  return new OutboundBlockedError(host, address, category);
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/**
 * Builds a `lookup` for sockets and agents that resolves with `dns.lookup` and rejects the
 * connection when any resolved address is not allowed. All addresses are checked, not just
 * the first, because the socket may try the others (Happy Eyeballs).
 */
export function createGuardedLookup(policy: OutboundPolicy): LookupFunction {
  const lookup = (hostname: string, options: dns.LookupOptions | LookupCallback, callback?: LookupCallback): void => {
    const done = (typeof options === 'function' ? options : callback) as LookupCallback;
    const requested: dns.LookupOptions = typeof options === 'function' ? {} : options;

    dns.lookup(hostname, { ...requested, all: true }, (error, addresses) => {
      if (error !== null) {
        done(error, '');
        return;
      }
      for (const { address } of addresses) {
        const rejection = checkOutboundAddress(hostname, address, policy);
        if (rejection !== undefined) {
          done(rejection, '');
          return;
        }
      }
      if (requested.all === true) {
        done(null, addresses);
        return;
      }
      const [first] = addresses;
      done(null, first.address, first.family);
    });
  };
  return lookup as LookupFunction;
}

/**
 * Builds an undici connector that checks IP-literal hosts before connecting and resolves
 * host names with the guarded lookup, so no socket reaches an address the policy rejects.
 */
export function createGuardedConnector(policy: OutboundPolicy): buildConnector.connector {
  const connect = buildConnector({ lookup: createGuardedLookup(policy) } as buildConnector.BuildOptions);
  return (options, callback) => {
    const host = options.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0) {
      const rejection = checkOutboundAddress(host, host, policy);
      if (rejection !== undefined) {
        callback(rejection, null);
        return;
      }
    }
    connect(options, callback);
  };
}

/**
 * Creates a keep-alive undici agent whose every connection passes the outbound policy. The
 * agent ignores the proxy environment variables (only undici's EnvHttpProxyAgent reads them),
 * because a proxy would make the check see the proxy's address instead of the target's.
 */
export function createGuardedAgent(policy: OutboundPolicy, options: { connections?: number } = {}): Agent {
  return new Agent({ connect: createGuardedConnector(policy), connections: options.connections ?? 64 });
}
