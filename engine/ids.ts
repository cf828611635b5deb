/**
 * Identifiers of runs, events and work items: UUID version 7 (RFC 9562), whose first 48 bits
 * are the Unix time in milliseconds. Ids made later sort later, so the stores' B-tree indexes
 * grow at their right edge, where consecutive inserts share pages, instead of touching a
 * random page for each new row as random (version 4) UUIDs do.
 */
import { randomFillSync } from 'node:crypto';

/** Random bytes fetched at once, since a call into the crypto module costs more than the copy. */
const POOL_BYTES = 16 * 256;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** Returns a new UUID version 7 in the usual 8-4-4-4-12 lower-case form. */
export function newId(now = Date.now()): string {
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  // 48-bit big-endian timestamp, written as a 16-bit and a 32-bit part.
  bytes.writeUInt16BE(Math.floor(now / 2 ** 32) & 0xffff, 0);
  bytes.writeUInt32BE(now % 2 ** 32 >>> 0, 2);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = (from: number, to: number): string => {
    let text = '';
    for (let index = from; index < to; index += 1) text += HEX[bytes[index]];
    return text;
  };
  return `${hex(0, 4)}-${hex(4, 6)}-${hex(6, 8)}-${hex(8, 10)}-${hex(10, 16)}`;
}
