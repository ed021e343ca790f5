import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ImageError } from './errors.ts';

/** The `IMG.json` sidecar: what `cloister run` needs to open the image. Untrusted like the image. */
export interface ImageDescriptor {
  format: 'cloister-image/1';
  /** dm-verity root hash, hex: the value to measure and pass as `--root-hash`. */
  rootHash: string;
  /** Whole image file, bytes. */
  size: number;
  verity: {
    /** Byte offset of the verity superblock (= size of the protected data): `--hash-offset`. */
    hashOffset: number;
    dataBlocks: number;
    dataBlockSize: number;
    hashBlockSize: number;
    hashAlgorithm: 'sha256';
    /** Salt, hex. */
    salt: string;
    uuid: string;
    /** Superblock and tree, bytes. */
    hashSize: number;
  };
  /** Present when the image is encrypted: the LUKS2 container is the verity data area. */
  luks2: {
    uuid: string;
    /** Byte offset of the encrypted ext4 inside the image. */
    dataOffset: number;
    sectorSize: number;
    cipher: 'aes-xts-plain64';
    keyBits: number;
    kdf: string;
  } | null;
  ext4: {
    /** Byte offset of the (plaintext or encrypted) file system in the image. */
    offset: number;
    size: number;
    /** Omitted for encrypted images: it is derived from the plaintext. */
    uuid: string | null;
  };
  sourceDateEpoch: number;
}

/** The sidecar path of an image. */
export const descriptorPath = (image: string): string => `${image}.json`;

/** Writes the sidecar next to the image. */
export function writeDescriptor(image: string, d: ImageDescriptor): string {
  const path = descriptorPath(image);
  writeFileSync(`${path}.partial`, `${JSON.stringify(d, null, 2)}\n`);
  renameSync(`${path}.partial`, path);
  return path;
}

/** Reads the sidecar if there is one; a malformed one is an error, not silently ignored. */
export function readDescriptor(image: string): ImageDescriptor | null {
  const path = descriptorPath(image);
  if (!existsSync(path)) return null;
  let d: Partial<ImageDescriptor>;
  try {
    d = JSON.parse(readFileSync(path, 'utf8')) as Partial<ImageDescriptor>;
  } catch (error) {
    throw new ImageError(`${path}: ${(error as Error).message}`);
  }
  const ok =
    d?.format === 'cloister-image/1' &&
    typeof d.rootHash === 'string' &&
    /^[0-9a-f]{64}$/.test(d.rootHash) &&
    Number.isSafeInteger(d.verity?.hashOffset) &&
    Number.isSafeInteger(d.verity?.dataBlocks);
  if (!ok) throw new ImageError(`${path}: not a cloister image descriptor`);
  return d as ImageDescriptor;
}
