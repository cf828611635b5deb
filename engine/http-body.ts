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
 * Returns the path and query string of `url` with `query` appended, serialized as axios 1.21 did
 * by default, so stories keep sending the same URLs. Null and undefined values are skipped.
 * At the top level, a list of plain values, or any list under a key ending in `[]`, becomes
 * one `key[]=value` pair per item, and a key ending in `{}` gets its value as JSON. Deeper,
 * objects and lists alike become `key[inner]=value`, with list indexes as inner keys, and a
 * `[]` at the end of a key is dropped. Names and values are percent-encoded except `:`, `$`
 * and `,`, and a space becomes `+`.
 */
export function pathWithQuery(url: URL, query: HttpRequest['query']): string {
  const path = `${url.pathname}${url.search}`;
  if (query === undefined || query === null) return path;
  const pairs: string[] = [];
  addNested(pairs, query, undefined);
  if (pairs.length === 0) return path;
  return `${path}${url.search === '' ? '?' : '&'}${pairs.join('&')}`;
}

/**
 * Adds the pairs of each field of `container`. `parents` lists the keys above it, as written
 * (axios trims only the key of the field itself).
 */
function addNested(pairs: string[], container: object, parents: (string | number)[] | undefined): void {
  const entries: [string | number, unknown][] = Array.isArray(container)
    ? container.map((item, index) => [index, item])
    : Object.entries(container);
  for (const [key, value] of entries) {
    if (value === undefined || value === null) continue;
    const trimmed = typeof key === 'string' ? key.trim() : key;
    if (addField(pairs, value, trimmed, parents)) addNested(pairs, value as object, [...(parents ?? []), key]);
  }
}

/** Adds the pairs of one field, or returns true when its value is to be walked. */
function addField(pairs: string[], value: unknown, key: string | number, parents: (string | number)[] | undefined): boolean {
  let leaf = value;
  if (parents === undefined && typeof key === 'string' && typeof value === 'object' && value !== null) {
    if (key.endsWith('{}')) {
      leaf = JSON.stringify(value);
    } else if (Array.isArray(value) && (key.endsWith('[]') || !value.some(isWalked))) {
      const name = `${withoutBrackets(key)}[]`;
      for (const item of value as unknown[]) {
        if (item !== undefined && item !== null) pushPair(pairs, name, item);
      }
      return false;
    }
  }
  if (isWalked(leaf)) return true;
  pushPair(pairs, fieldName(parents, key), leaf);
  return false;
}

/** Writes `a[b][c]` for the keys a, b and c, each without a `[]` at its end. */
function fieldName(parents: (string | number)[] | undefined, key: string | number): string {
  if (parents === undefined) return String(key);
  const tokens = [...parents, key].map((token) => withoutBrackets(String(token)));
  return tokens[0] + tokens.slice(1).map((token) => `[${token}]`).join('');
}

/** True for the values axios walks into: lists and plain objects. */
function isWalked(value: unknown): boolean {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function withoutBrackets(key: string): string {
  return key.endsWith('[]') ? key.slice(0, -2) : key;
}

function pushPair(pairs: string[], name: string, value: unknown): void {
  const text = value instanceof Date ? value.toISOString() : String(value as QueryValue);
  pairs.push(`${encodeQueryPart(name)}=${encodeQueryPart(text)}`);
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
