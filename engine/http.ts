/** The default HTTP transport: axios with keep-alive agents, every status returned as data. */
import http from 'node:http';
import https from 'node:https';
import axios, { AxiosError } from 'axios';
import type { HttpRequest, HttpResponse, HttpTransport } from './types';

const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

const client = axios.create({
  httpAgent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  responseType: 'arraybuffer',
  validateStatus: () => true,
  maxContentLength: MAX_RESPONSE_BYTES,
  maxRedirects: 5,
  transitional: { clarifyTimeoutError: true },
});

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
    const response = await client.request<ArrayBuffer>({
      method: request.method,
      url: request.url,
      headers: request.headers,
      params: request.query,
      data: request.body,
      timeout: request.timeoutMs,
      signal: request.signal,
    });
    return {
      status: response.status,
      headers: flatHeaders(response.headers as Record<string, unknown>),
      body: Buffer.from(response.data),
    };
  } catch (error) {
    if (error instanceof AxiosError) {
      const code = error.code ?? 'ERR_NETWORK';
      throw new TransportError(error.message, code);
    }
    throw error;
  }
};
