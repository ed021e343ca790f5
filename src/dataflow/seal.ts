/**
 * Sealed blocks: AES-256-GCM, one random nonce per block, and associated data that names where the
 * block belongs (its domain: job, stage, partition, output index...) plus its index in its set and
 * whether it is the last one. A block moved to another place, set or position, or a set cut short,
 * no longer opens.
 *
 * Layout: "CDF1" | flags (bit 0: last) | block index u32 BE | nonce (12) | ciphertext | tag (16).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { IntegrityError } from './errors.ts';

const HEADER = 4 + 1 + 4 + 12;
const TAG = 16;
const MAGIC = Buffer.from('CDF1');
const PLAIN_MAGIC = Buffer.from('CDF0');

declare const CLOISTER_DATAFLOW_PLAINTEXT: boolean;
/**
 * The plaintext baseline of bench/dataflow.ts: a bundle built with this constant defined (esbuild
 * `define`, so it is a different, measured bundle) writes and reads unencrypted, unauthenticated
 * blocks, marked "CDF0" so that neither kind of bundle takes the other's blocks.
 */
const PLAINTEXT = typeof CLOISTER_DATAFLOW_PLAINTEXT === 'boolean' && CLOISTER_DATAFLOW_PLAINTEXT;

/** A plaintext-baseline block: the sealed layout with a zero nonce and tag and no encryption. */
export function plainBlock(index: number, last: boolean, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER);
  PLAIN_MAGIC.copy(header, 0);
  header[4] = last ? 1 : 0;
  header.writeUInt32BE(index, 5);
  return Buffer.concat([header, payload, Buffer.alloc(TAG)]);
}

/** Where a block belongs; its fields are serialised in insertion order, so build them with domains.ts. */
export type Domain = Readonly<Record<string, string | number>>;

const describe = (domain: Domain): string =>
  Object.entries(domain)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

function associatedData(domain: Domain, index: number, last: boolean): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, ...domain, block: index, last }), 'utf8');
}

export function sealBlock(
  key: Uint8Array,
  domain: Domain,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
): Buffer {
  if (PLAINTEXT) return plainBlock(index, last, plaintext);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(domain, index, last));
  const header = Buffer.alloc(9);
  MAGIC.copy(header, 0);
  header[4] = last ? 1 : 0;
  header.writeUInt32BE(index, 5);
  return Buffer.concat([header, nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** Opens block number `index` of the set named by `domain`. */
export function openBlock(
  key: Uint8Array,
  domain: Domain,
  index: number,
  blob: Uint8Array,
): { plaintext: Buffer; last: boolean } {
  const where = `${describe(domain)} block ${index}`;
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (bytes.length < HEADER + TAG || !bytes.subarray(0, 4).equals(PLAINTEXT ? PLAIN_MAGIC : MAGIC))
    throw new IntegrityError(`${where}: not a sealed block (${bytes.length} bytes)`);
  const flags = bytes[4];
  if (flags > 1) throw new IntegrityError(`${where}: unknown flags ${flags}`);
  const last = flags === 1;
  // The index in the header is only a hint for humans; the expected one goes into the AD. Both must agree.
  if (bytes.readUInt32BE(5) !== index)
    throw new IntegrityError(`${where}: found block ${bytes.readUInt32BE(5)} in its place`);
  if (PLAINTEXT) return { plaintext: bytes.subarray(HEADER, bytes.length - TAG), last };
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(9, HEADER));
  decipher.setAAD(associatedData(domain, index, last));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG));
  try {
    const plaintext = Buffer.concat([
      decipher.update(bytes.subarray(HEADER, bytes.length - TAG)),
      decipher.final(),
    ]);
    return { plaintext, last };
  } catch {
    throw new IntegrityError(`${where}: does not authenticate (tampered, moved, replayed or wrong key)`);
  }
}

/** SHA-256 over a set's sealed blocks in order: what the manifest records of each set. */
export class SetDigest {
  private readonly hash = createHash('sha256');
  blocks = 0;
  add(blob: Uint8Array): void {
    this.hash.update(blob);
    this.blocks++;
  }
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** Seals one whole set from its block payloads (at least one block: an empty set is one empty last block). */
export function sealSet(key: Uint8Array, domain: Domain, payloads: Uint8Array[]): Buffer[] {
  const parts = payloads.length === 0 ? [new Uint8Array(0)] : payloads;
  return parts.map((p, i) => sealBlock(key, domain, i, i === parts.length - 1, p));
}

/**
 * Opens a whole set, given in order: every index from 0, exactly one last block and it at the end.
 * A missing, repeated, reordered or foreign block, or a set cut short, throws IntegrityError.
 */
export function openSet(
  key: Uint8Array,
  domain: Domain,
  blobs: readonly Uint8Array[],
  digest?: SetDigest,
): Buffer[] {
  if (blobs.length === 0)
    throw new IntegrityError(`${describe(domain)}: no blocks (a set has at least its last block)`);
  return blobs.map((blob, i) => {
    const { plaintext, last } = openBlock(key, domain, i, blob);
    if (last !== (i === blobs.length - 1))
      throw new IntegrityError(
        last
          ? `${describe(domain)}: blocks after the last one (${blobs.length - i - 1} extra)`
          : `${describe(domain)}: the set ends at block ${i} without its last block (truncated)`,
      );
    digest?.add(blob);
    return plaintext;
  });
}
