/**
 * The default HTTP transport: axios with keep-alive agents, every status returned as data.
 * Connections pass the outbound guard (security/outbound.ts): metadata and link-local
 * addresses are always rejected, private and loopback ones unless the story allows them.
 */
import { AxiosError, type AxiosInstance } from 'axios';
import { createHttpClient, OutboundBlockedError } from './security/outbound';
import type { HttpRequest, HttpResponse, HttpTransport } from './types';

const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

function createClient(allowPrivateNetworks: boolean): AxiosInstance {
  const client = createHttpClient({ allowPrivateNetworks, maxContentLength: MAX_RESPONSE_BYTES, maxRedirects: 5 });
  client.defaults.responseType = 'arraybuffer';
  client.defaults.validateStatus = () => true;
  client.defaults.transitional = { ...client.defaults.transitional, clarifyTimeoutError: true };
  return client;
}

const clients = { strict: createClient(false), allowingPrivate: createClient(true) };

/** Network failure of a request, with the system code (ECONNREFUSED, ETIMEDOUT, ...). */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

function flatHeaders(headers: Record<string, unknown>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    result[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return result;
}

export const axiosTransport: HttpTransport = async (request: HttpRequest): Promise<HttpResponse> => {
  try {
    const client = request.allowPrivateNetworks === true ? clients.allowingPrivate : clients.strict;
    const response = await client.request<ArrayBuffer>({
      method: request.method,
      url: request.url,
      headers: request.headers,
      params: request.query,
      data: request.body,
      timeout: request.timeoutMs,
      totalTimeoutMs: request.timeoutMs,
      signal: request.signal,
    } as Parameters<AxiosInstance['request']>[0]);
    return {
      status: response.status,
      headers: flatHeaders(response.headers as Record<string, unknown>),
      body: Buffer.from(response.data),
    };
  } catch (error) {
    if (error instanceof OutboundBlockedError) throw new TransportError(error.message, error.code);
    if (error instanceof AxiosError) {
      const code = error.code ?? 'ERR_NETWORK';
      throw new TransportError(error.message, code);
    }
    throw error;
  }
};

/**
 * The default transport with private and loopback addresses allowed for every story, for tests
 * and local tools whose upstream servers listen on 127.0.0.1. Metadata addresses stay blocked.
 */
export const privateNetworkTransport: HttpTransport = (request) =>
  axiosTransport({ ...request, allowPrivateNetworks: true });
