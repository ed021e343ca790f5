/** A minimal, bounds-checked, strict DER reader: certificates, CRLs and the Intel and AMD extensions. */
import { FormatError } from './bytes.ts';

export const DerTag = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  BIT_STRING: 0x03,
  OID: 0x06,
  ENUMERATED: 0x0a,
  SEQUENCE: 0x30,
} as const;

/** One TLV: tag byte and content, and the whole TLV as encoded (what a signature covers). */
export interface Der {
  tag: number;
  content: Uint8Array;
  encoded: Uint8Array;
}

/** Reads one TLV at `pos`; returns it and the position after it. Only definite lengths up to 4 bytes. */
function readTlv(bytes: Uint8Array, pos: number): { tlv: Der; next: number } {
  if (pos + 2 > bytes.length) throw new FormatError('bad-der', 'DER: truncated header');
  const tag = bytes[pos];
  // Multi-byte tags never occur in the structures read here.
  if ((tag & 0x1f) === 0x1f) throw new FormatError('bad-der', 'DER: high tag number');
  let len = bytes[pos + 1];
  let at = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || at + n > bytes.length) throw new FormatError('bad-der', 'DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[at + i];
    // DER: the shortest length form, so one value has one encoding.
    if (len < 0x80 || bytes[at] === 0) throw new FormatError('bad-der', 'DER: length not minimal');
    at += n;
  }
  if (at + len > bytes.length) throw new FormatError('bad-der', 'DER: content exceeds its container');
  return {
    tlv: { tag, content: bytes.subarray(at, at + len), encoded: bytes.subarray(pos, at + len) },
    next: at + len,
  };
}

/** Parses exactly one TLV spanning all of `bytes`. */
export function parseDer(bytes: Uint8Array): Der {
  const { tlv, next } = readTlv(bytes, 0);
  if (next !== bytes.length) throw new FormatError('bad-der', 'DER: trailing bytes');
  return tlv;
}

/** The TLVs inside a constructed value (a SEQUENCE's content). */
export function derChildren(content: Uint8Array): Der[] {
  const out: Der[] = [];
  for (let pos = 0; pos < content.length;) {
    const { tlv, next } = readTlv(content, pos);
    out.push(tlv);
    pos = next;
  }
  return out;
}

/** Dotted form of an OBJECT IDENTIFIER's content. */
export function derOid(content: Uint8Array): string {
  if (content.length === 0) throw new FormatError('bad-der', 'DER: empty OID');
  const arcs: number[] = [];
  let value = 0;
  for (const b of content) {
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new FormatError('bad-der', 'DER: OID arc too large');
    if (!(b & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  if (content[content.length - 1] & 0x80) throw new FormatError('bad-der', 'DER: truncated OID');
  const first = Math.min(Math.floor(arcs[0] / 40), 2);
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** A non-negative INTEGER or ENUMERATED that fits in a JS number. */
export function derUint(content: Uint8Array): number {
  if (content.length === 0 || content.length > 6 || content[0] & 0x80) {
    throw new FormatError('bad-der', 'DER: integer out of range');
  }
  return content.reduce((n, b) => n * 256 + b, 0);
}
