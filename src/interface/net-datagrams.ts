/**
 * The wire format of the two datagram calls (`net_send_batch`, `net_recv_batch`): a batch is a run
 * of entries, each the outer IPv4 address (4 bytes), UDP port (2) and length (2), all big-endian,
 * then the datagram's bytes. The enclave only ever puts WireGuard messages in a batch; what the host
 * returns is decoded strictly here, and anything that does not add up refuses the whole batch.
 */
import { WireError } from './codec.ts';
import { SLOT_DATA_BYTES } from './ring.ts';

export interface OuterDatagram {
  data: Uint8Array;
  /** Dotted-quad IPv4 address of the outer (host) side. */
  address: string;
  port: number;
}

export const ENTRY_HEADER = 8;
/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65507;
/** Most datagrams in one batch (either direction). */
export const MAX_BATCH = 256;
/** Most bytes of one batch: a slot, less room for the host's own 4-byte framing in its mailbox. */
export const DATAGRAM_BATCH_BYTES = SLOT_DATA_BYTES - 16;

/** Mailbox operations between the host-call server and the launcher's UDP socket. */
export const DatagramOp = { SEND: 1, RECEIVE: 2 } as const;
/** A RECEIVE request: u32 wait (ms), most datagrams, most bytes (little-endian). */
export const RECEIVE_HEADER = 12;

function parseAddress(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) < 256))
    throw new WireError(`datagram address ${JSON.stringify(text)} is not IPv4`);
  return parts.reduce((v, p) => v * 256 + Number(p), 0);
}

/** The encoded size of one entry. */
export function entrySize(datagram: OuterDatagram): number {
  return ENTRY_HEADER + datagram.data.length;
}

/** Writes `datagrams` into `out`; returns the byte count. Throws when they do not fit. */
export function encodeDatagrams(datagrams: readonly OuterDatagram[], out: Uint8Array): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  for (const d of datagrams) {
    if (d.data.length === 0 || d.data.length > MAX_DATAGRAM)
      throw new WireError(`datagram of ${d.data.length} bytes`);
    if (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535) throw new WireError(`port ${d.port}`);
    if (at + entrySize(d) > out.length) throw new WireError('batch does not fit');
    view.setUint32(at, parseAddress(d.address));
    view.setUint16(at + 4, d.port);
    view.setUint16(at + 6, d.data.length);
    out.set(d.data, at + ENTRY_HEADER);
    at += entrySize(d);
  }
  return at;
}

/**
 * Decodes exactly `count` entries filling all of `bytes`: no entry empty, none with port 0 or the
 * unspecified address, nothing left over, at most `maxCount`. Each datagram is a private copy.
 */
export function decodeDatagrams(bytes: Uint8Array, count: number, maxCount = MAX_BATCH): OuterDatagram[] {
  if (!Number.isSafeInteger(count) || count < 0 || count > maxCount)
    throw new WireError(`batch of ${count} datagrams (at most ${maxCount})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: OuterDatagram[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER > bytes.length) throw new WireError(`datagram ${i}: header truncated`);
    const address = view.getUint32(at);
    const port = view.getUint16(at + 4);
    const length = view.getUint16(at + 6);
    if (address === 0 || port === 0) throw new WireError(`datagram ${i}: no source address`);
    if (length === 0) throw new WireError(`datagram ${i}: empty`);
    if (at + ENTRY_HEADER + length > bytes.length) throw new WireError(`datagram ${i}: truncated`);
    const data = bytes.slice(at + ENTRY_HEADER, at + ENTRY_HEADER + length);
    out.push({
      data,
      address: [address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].join('.'),
      port,
    });
    at += ENTRY_HEADER + length;
  }
  if (at !== bytes.length) throw new WireError(`${bytes.length - at} bytes after the last datagram`);
  return out;
}
