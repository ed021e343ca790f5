/** WireGuard's four message formats (whitepaper §5.4), fixed sizes, little-endian indices. */

export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_COOKIE_REPLY = 3;
export const MSG_TRANSPORT = 4;

export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
/** Header (type, reserved, receiver, counter) and tag around a transport payload. */
export const TRANSPORT_HEADER = 16;
export const TRANSPORT_MIN = TRANSPORT_HEADER + 16;

/** Where mac1 and mac2 start in a handshake message: each covers the bytes before it. */
export function macOffsets(message: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: message.length - 32, mac2: message.length - 16 };
}

/**
 * The message type, when the datagram is one of the four with the exact size its type requires
 * (transport: at least header and tag, and a whole number of 16-byte blocks); else undefined.
 */
export function messageType(d: Uint8Array): number | undefined {
  if (d.length < 4 || d[1] !== 0 || d[2] !== 0 || d[3] !== 0) return undefined;
  switch (d[0]) {
    case MSG_INITIATION:
      return d.length === INITIATION_SIZE ? MSG_INITIATION : undefined;
    case MSG_RESPONSE:
      return d.length === RESPONSE_SIZE ? MSG_RESPONSE : undefined;
    case MSG_COOKIE_REPLY:
      return d.length === COOKIE_REPLY_SIZE ? MSG_COOKIE_REPLY : undefined;
    case MSG_TRANSPORT:
      return d.length >= TRANSPORT_MIN && (d.length - TRANSPORT_MIN) % 16 === 0 ? MSG_TRANSPORT : undefined;
    default:
      return undefined;
  }
}

// Byte by byte: a DataView per call would be an allocation per packet on the data path.
export function u32le(d: Uint8Array, at: number): number {
  if (at < 0 || at + 4 > d.length) throw new RangeError(`u32le: offset ${at} outside ${d.length} bytes`);
  return (d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16) | (d[at + 3]! << 24)) >>> 0;
}

export function putU32le(d: Uint8Array, at: number, value: number): void {
  if (at < 0 || at + 4 > d.length) throw new RangeError(`putU32le: offset ${at} outside ${d.length} bytes`);
  d[at] = value;
  d[at + 1] = value >>> 8;
  d[at + 2] = value >>> 16;
  d[at + 3] = value >>> 24;
}
