/**
 * Sealed files (inputs, outputs, spills, the manifest): "CDFS", a 16-byte set id (the dataset or job),
 * then each sealed block behind its u32 BE length. The framing is not trusted: every block still has
 * to open in its place (seal.ts), so a cut, shuffled or spliced file fails there.
 */
import { IntegrityError } from './errors.ts';

const MAGIC = Buffer.from('CDFS');

export function frameFile(setId: string, blobs: readonly Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [MAGIC, Buffer.from(setId, 'hex')];
  for (const blob of blobs) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(blob.length);
    parts.push(length, blob);
  }
  return Buffer.concat(parts);
}

export function parseFrames(bytes: Uint8Array, what: string): { setId: string; blobs: Buffer[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 20 || !buf.subarray(0, 4).equals(MAGIC))
    throw new IntegrityError(`${what}: not a sealed dataflow file (${buf.length} bytes)`);
  const blobs: Buffer[] = [];
  let at = 20;
  while (at < buf.length) {
    if (at + 4 > buf.length) throw new IntegrityError(`${what}: truncated in a block length at byte ${at}`);
    const length = buf.readUInt32BE(at);
    if (at + 4 + length > buf.length)
      throw new IntegrityError(
        `${what}: truncated: block of ${length} bytes at byte ${at}, file ends at ${buf.length}`,
      );
    blobs.push(buf.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { setId: buf.subarray(4, 20).toString('hex'), blobs };
}
