/** IPv4 addresses as 32-bit numbers (a.b.c.d = a<<24 | b<<16 | c<<8 | d), parsed strictly. */

const OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses dotted-quad notation; no leading zeros, no shorthand. Returns undefined when invalid. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The netmask of a prefix length (0..32) as a 32-bit number. */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** An address with its prefix, as in `10.0.0.2/24`. */
export interface Cidr4 {
  address: number;
  prefix: number;
}

export function parseCidr4(text: string): Cidr4 | undefined {
  const slash = text.indexOf('/');
  const address = parseIPv4(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  if (slash < 0) return { address, prefix: 32 };
  const p = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(p) || Number(p) > 32) return undefined;
  return { address, prefix: Number(p) };
}

export function cidrContains(cidr: Cidr4, address: number): boolean {
  const mask = prefixMask(cidr.prefix);
  return (cidr.address & mask) >>> 0 === (address & mask) >>> 0;
}
