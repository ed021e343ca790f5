/** Builders and readers of raw IPv4 packets for tests that talk to a stack below its sockets. */
import { parseIPv4 } from '../../../src/enclave/net/ipv4.ts';

/** The Internet checksum (RFC 1071) of `bytes`. */
export function inetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length % 2) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ip(text: string): number {
  const v = parseIPv4(text);
  if (v === undefined) throw new Error(`bad address ${text}`);
  return v;
}

/** An IPv4 packet with a correct header checksum around `payload`. */
export function ipv4Packet(src: string, dst: string, protocol: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(4, 0x1234);
  p[8] = 64;
  p[9] = protocol;
  v.setUint32(12, ip(src));
  v.setUint32(16, ip(dst));
  v.setUint16(10, inetChecksum(p.subarray(0, 20)));
  p.set(payload, 20);
  return p;
}

/** An ICMP echo request (type 8) with a correct checksum. */
export function icmpEchoRequest(
  src: string,
  dst: string,
  id: number,
  seq: number,
  data: Uint8Array,
): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  const v = new DataView(icmp.buffer);
  icmp[0] = 8;
  v.setUint16(4, id);
  v.setUint16(6, seq);
  icmp.set(data, 8);
  v.setUint16(2, inetChecksum(icmp));
  return ipv4Packet(src, dst, 1, icmp);
}

export interface Ipv4View {
  protocol: number;
  src: number;
  dst: number;
  headerLength: number;
  payload: Uint8Array;
}

export function readIpv4(p: Uint8Array): Ipv4View {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const headerLength = (p[0]! & 15) * 4;
  return {
    protocol: p[9]!,
    src: v.getUint32(12),
    dst: v.getUint32(16),
    headerLength,
    payload: p.subarray(headerLength, v.getUint16(2)),
  };
}

/** TCP flags and options of a segment (payload of an IPv4 packet). */
export function readTcp(segment: Uint8Array): {
  flags: number;
  window: number;
  mss?: number;
  windowScale?: number;
} {
  const v = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  const dataOffset = (segment[12]! >> 4) * 4;
  const out: { flags: number; window: number; mss?: number; windowScale?: number } = {
    flags: segment[13]!,
    window: v.getUint16(14),
  };
  for (let i = 20; i < dataOffset;) {
    const kind = segment[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = segment[i + 1]!;
    if (kind === 2) out.mss = v.getUint16(i + 2);
    if (kind === 3) out.windowScale = segment[i + 2]!;
    i += Math.max(len, 2);
  }
  return out;
}

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;
