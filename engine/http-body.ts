/**
 * Encoding helpers of the HTTP transport: the query string sent, the response body received.
 */
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { HttpRequest } from './types';

/** A response body the transport cannot return: too large or not decodable. */
export class ResponseBodyError extends Error {
  readonly code = 'ERR_BAD_RESPONSE';

  static tooLarge(maxBytes: number): ResponseBodyError {
    return new ResponseBodyError(`Response body exceeded the limit of ${maxBytes} bytes`);
  }

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResponseBodyError';
  }
}

type QueryValue = NonNullable<HttpRequest['query']>[string];

/**
 * Returns the path and query string of `url` with `query` appended, serialized as axios 1.x did
 * by default, so stories keep sending the same URLs. Keys are trimmed and null or undefined
 * values skipped. A list becomes one `key[]=value` pair per item, and a nested object
 * `key[inner]=value`. Names and values are percent-encoded except `:`, `$` and `,`, and a
 * space becomes `+`.
 */
export function pathWithQuery(url: URL, query: HttpRequest['query']): string {
  const path = `${url.pathname}${url.search}`;
  if (query === undefined || query === null) return path;
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(query)) addPairs(pairs, key.trim(), value as unknown);
  if (pairs.length === 0) return path;
  return `${path}${url.search === '' ? '?' : '&'}${pairs.join('&')}`;
}

function addPairs(pairs: string[], key: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    const flat = value.every((item) => item === null || typeof item !== 'object');
    value.forEach((item, index) => addPairs(pairs, flat ? `${key}[]` : `${key}[${index}]`, item));
    return;
  }
  if (value instanceof Date) {
    pairs.push(`${encodeQueryPart(key)}=${encodeQueryPart(value.toISOString())}`);
    return;
  }
  if (typeof value === 'object') {
    for (const [inner, item] of Object.entries(value)) addPairs(pairs, `${key}[${inner.trim()}]`, item);
    return;
  }
  pairs.push(`${encodeQueryPart(key)}=${encodeQueryPart(String(value as QueryValue))}`);
}

function encodeQueryPart(text: string): string {
  return encodeURIComponent(text)
    .replace(/%3A/gi, ':')
    .replace(/%24/g, '$')
    .replace(/%2C/gi, ',')
    .replace(/%20/g, '+');
}

const unzip = promisify(zlib.unzip);
const inflateRaw = promisify(zlib.inflateRaw);
const brotliDecompress = promisify(zlib.brotliDecompress);

/**
 * Decompresses a gzip, deflate or br body, which a server may send even though the transport
 * does not advertise compression, with the size limit applied to the decompressed bytes. The
 * Content-Encoding header is removed from `response.headers` once the body is decoded. Other
 * encodings are returned as received.
 */
export async function decodeBody(
  response: { status: number; headers: Record<string, string>; body: Buffer },
  method: string,
  maxBytes: number,
): Promise<Buffer> {
  const encoding = response.headers['content-encoding']?.trim().toLowerCase();
  if (encoding === undefined || encoding === '' || encoding === 'identity') return response.body;
  if (response.body.length === 0 || method === 'HEAD' || response.status === 204 || response.status === 304) {
    return response.body;
  }

  const options = { maxOutputLength: maxBytes };
  let decoded: Buffer;
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') decoded = await unzip(response.body, options);
    else if (encoding === 'br') decoded = await brotliDecompress(response.body, options);
    else if (encoding === 'deflate') decoded = await inflateDeflate(response.body, options);
    else return response.body;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw ResponseBodyError.tooLarge(maxBytes);
    throw new ResponseBodyError(`Invalid ${encoding} response body: ${(error as Error).message}`, { cause: error });
  }
  delete response.headers['content-encoding'];
  return decoded;
}

/** Inflates a deflate body, which servers send with the zlib header (RFC 1950) or without it. */
async function inflateDeflate(body: Buffer, options: zlib.ZlibOptions): Promise<Buffer> {
  try {
    return await unzip(body, options);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'Z_DATA_ERROR') throw error;
    return inflateRaw(body, options);
  }
}
