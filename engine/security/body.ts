/**
 * Reading and decoding of webhook request bodies. Every failure is a `BodyError` carrying the
 * HTTP status of the response (400, 413 or 415) and a message that tells the sender what to
 * fix, so the webhook server can send it directly.
 */
import type { Readable } from 'node:stream';
import { TextDecoder, promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Json } from '../types';
import { findJsonSyntaxProblem } from './json-position';

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_JSON_DEPTH = 64;
/** More stacked Content-Encodings than this are rejected, which bounds decompression work. */
const MAX_ENCODINGS = 2;

export type BodyErrorCode =
  | 'payload_too_large'
  | 'body_incomplete'
  | 'unsupported_media_type'
  | 'unsupported_encoding'
  | 'unsupported_charset'
  | 'invalid_encoding'
  | 'invalid_charset'
  | 'invalid_json'
  | 'json_too_deep';

const STATUS_BY_CODE: Record<BodyErrorCode, 400 | 413 | 415> = {
  payload_too_large: 413,
  body_incomplete: 400,
  unsupported_media_type: 415,
  unsupported_encoding: 415,
  unsupported_charset: 415,
  invalid_encoding: 400,
  invalid_charset: 400,
  invalid_json: 400,
  json_too_deep: 400,
};

/** A request body that cannot be accepted, with the HTTP status of the response. */
export class BodyError extends Error {
  readonly status: 400 | 413 | 415;
  readonly code: BodyErrorCode;
  readonly position: { line: number; col: number; offset: number } | undefined;

  constructor(
    code: BodyErrorCode,
    message: string,
    options: { position?: { line: number; col: number; offset: number }; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BodyError';
    this.code = code;
    this.status = STATUS_BY_CODE[code];
    this.position = options.position;
  }

  /** The JSON response for the sender. */
  toResponse(): { status: number; body: { error: string; message: string } } {
    return { status: this.status, body: { error: this.code, message: this.message } };
  }
}

export interface BodyLimits {
  /** Largest body in bytes, applied to the bytes received and again to the inflated bytes. */
  maxBytes?: number;
  /** Deepest accepted nesting of JSON arrays and objects. */
  maxDepth?: number;
}

export interface DecodedBody {
  kind: 'json' | 'form' | 'text' | 'empty';
  value: Json;
  /** Bytes as received, before any Content-Encoding was undone: the input of signatures. */
  raw: Buffer;
  /** Lower-case media type without parameters, or undefined when none was sent. */
  mediaType: string | undefined;
}

/**
 * Reads a request stream into one buffer, stopping at `maxBytes`. A Content-Length above the
 * limit fails before any byte is read. On a 413 the stream is paused, not drained, so the
 * caller should answer with `Connection: close`.
 */
export function readRawBody(
  stream: Readable,
  options: { maxBytes?: number; contentLength?: string | undefined } = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const declared = options.contentLength === undefined ? undefined : Number(options.contentLength);
  if (declared !== undefined && Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge(maxBytes, `Content-Length is ${declared} bytes`));
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;

    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error !== undefined) reject(error);
      else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += buffer.length;
      if (received > maxBytes) {
        stream.pause();
        finish(tooLarge(maxBytes, `more than ${maxBytes} bytes were sent`));
        return;
      }
      chunks.push(buffer);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (error: Error): void =>
      finish(new BodyError('body_incomplete', `Reading the request body failed: ${error.message}.`, { cause: error }));
    const onClose = (): void =>
      finish(new BodyError('body_incomplete', 'The connection closed before the request body was complete.'));

    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

/**
 * Decodes a raw body by its Content-Encoding and Content-Type. Supported: JSON
 * (`application/json`, `application/*+json`, any charset), `application/x-www-form-urlencoded`,
 * `text/*`, and empty bodies of any type; encodings gzip, deflate, br and identity.
 */
export async function decodeBody(
  raw: Buffer,
  headers: { contentType?: string | undefined; contentEncoding?: string | undefined },
  limits: BodyLimits = {},
): Promise<DecodedBody> {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (raw.length > maxBytes) throw tooLarge(maxBytes, `${raw.length} bytes were sent`);

  const mediaType = parseMediaType(headers.contentType);
  const bytes = await decompress(raw, headers.contentEncoding, maxBytes);
  if (bytes.length === 0) return { kind: 'empty', value: null, raw, mediaType: mediaType?.type };

  if (mediaType === undefined) {
    throw new BodyError(
      'unsupported_media_type',
      'The request has a body but no Content-Type; send Content-Type: application/json.',
    );
  }
  const { type, charset } = mediaType;

  if (type === 'application/json' || /^application\/[^/]+\+json$/.test(type)) {
    const text = decodeText(bytes, charset ?? 'utf-8');
    return { kind: 'json', value: parseJson(text, limits.maxDepth ?? DEFAULT_MAX_JSON_DEPTH), raw, mediaType: type };
  }
  if (type === 'application/x-www-form-urlencoded') {
    const text = decodeText(bytes, charset ?? 'utf-8');
    return { kind: 'form', value: parseForm(text), raw, mediaType: type };
  }
  if (type.startsWith('text/')) {
    return { kind: 'text', value: decodeText(bytes, charset ?? 'utf-8'), raw, mediaType: type };
  }
  throw new BodyError(
    'unsupported_media_type',
    `Content-Type ${JSON.stringify(type)} is not supported; send application/json, ` +
      'application/x-www-form-urlencoded or text/plain.',
  );
}

/** Reads and decodes a request body in one step. */
export async function readBody(
  request: Readable & { headers: Record<string, string | string[] | undefined> },
  limits: BodyLimits = {},
): Promise<DecodedBody> {
  const header = (name: string): string | undefined => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const raw = await readRawBody(request, {
    maxBytes: limits.maxBytes,
    contentLength: header('content-length'),
  });
  return decodeBody(raw, { contentType: header('content-type'), contentEncoding: header('content-encoding') }, limits);
}

function tooLarge(maxBytes: number, found: string): BodyError {
  return new BodyError(
    'payload_too_large',
    `The request body is too large: this webhook accepts at most ${maxBytes} bytes (${found}); ` +
      'send a smaller body or raise max_body_bytes on the webhook action.',
  );
}

interface MediaType {
  type: string;
  charset: string | undefined;
}

function parseMediaType(header: string | undefined): MediaType | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const [typePart, ...parameters] = header.split(';');
  const type = typePart.trim().toLowerCase();
  let charset: string | undefined;
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0) continue;
    if (parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    charset = parameter.slice(equals + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return { type, charset };
}

const decompressors: Record<string, (input: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  'x-gzip': promisify(zlib.gunzip),
  deflate: inflateEitherForm,
  br: promisify(zlib.brotliDecompress) as (input: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>,
};

/** Some senders label raw deflate data as `deflate`; try the zlib wrapper first, then raw. */
async function inflateEitherForm(input: Buffer, options: zlib.ZlibOptions): Promise<Buffer> {
  try {
    return await promisify(zlib.inflate)(input, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'Z_DATA_ERROR') throw error;
    return promisify(zlib.inflateRaw)(input, options);
  }
}

/**
 * Undoes the Content-Encodings, last applied first. `maxOutputLength` makes zlib stop as soon as
 * the inflated size passes the limit, so a small compressed bomb costs at most `maxBytes`.
 */
async function decompress(raw: Buffer, header: string | undefined, maxBytes: number): Promise<Buffer> {
  if (header === undefined || header.trim() === '') return raw;
  const encodings = header
    .split(',')
    .map((encoding) => encoding.trim().toLowerCase())
    .filter((encoding) => encoding !== '' && encoding !== 'identity');
  if (encodings.length > MAX_ENCODINGS) {
    throw new BodyError(
      'unsupported_encoding',
      `Content-Encoding ${JSON.stringify(header)} stacks ${encodings.length} encodings; at most ${MAX_ENCODINGS} are accepted.`,
    );
  }

  let bytes = raw;
  for (const encoding of encodings.reverse()) {
    const inflate = decompressors[encoding];
    if (inflate === undefined) {
      throw new BodyError(
        'unsupported_encoding',
        `Content-Encoding ${JSON.stringify(encoding)} is not supported; send gzip, deflate, br or an uncompressed body.`,
      );
    }
    try {
      bytes = await inflate(bytes, { maxOutputLength: maxBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw tooLarge(maxBytes, `the ${encoding} body inflates past the limit`);
      }
      throw new BodyError(
        'invalid_encoding',
        `The request body is not valid ${encoding} data (${(error as Error).message}); check Content-Encoding.`,
        { cause: error },
      );
    }
  }
  return bytes;
}

function decodeText(bytes: Buffer, charset: string): string {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: true });
  } catch {
    throw new BodyError(
      'unsupported_charset',
      `charset ${JSON.stringify(charset)} is not supported; send UTF-8 and declare charset=utf-8.`,
    );
  }
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new BodyError(
      'invalid_charset',
      `The request body is not valid ${charset}; check the charset in Content-Type.`,
      { cause: error },
    );
  }
}

function parseJson(text: string, maxDepth: number): Json {
  const depth = maxNestingDepth(text, maxDepth);
  if (depth > maxDepth) {
    throw new BodyError(
      'json_too_deep',
      `The JSON body nests arrays and objects deeper than ${maxDepth} levels; flatten the payload.`,
    );
  }
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    const problem = findJsonSyntaxProblem(text);
    if (problem === undefined) {
      throw new BodyError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const { line, col, offset } = problem;
    throw new BodyError(
      'invalid_json',
      `The request body is not valid JSON at line ${line}, column ${col} (offset ${offset}): ${problem.detail}.`,
      { position: { line, col, offset }, cause: error },
    );
  }
}

/**
 * Measures bracket nesting outside strings, stopping once past `limit`. Checked before parsing
 * because later steps (expressions, JSON.stringify, stores) recurse over the value.
 */
function maxNestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c) i += 1;
      else if (code === 0x22) inString = false;
      continue;
    }
    if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return deepest;
}

/** Parses a form body; a repeated field becomes an array of its values in order. */
function parseForm(text: string): Json {
  const result: Record<string, Json> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = Object.prototype.hasOwnProperty.call(result, key) ? result[key] : undefined;
    if (Array.isArray(existing)) {
      existing.push(value);
      continue;
    }
    const next: Json = existing === undefined ? value : [existing, value];
    // defineProperty keeps a field named __proto__ an ordinary property.
    Object.defineProperty(result, key, { value: next, enumerable: true, writable: true, configurable: true });
  }
  return result;
}
