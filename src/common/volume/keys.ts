import { hkdfSync } from 'node:crypto';

/** Keys of one volume, all derived from the caller's volume key with the volume's UUID as salt. */
export interface VolumeKeys {
  /** AES-256-GCM key of the data blocks. */
  data: Uint8Array;
  /** HMAC-SHA256 key of the superblock. */
  superblock: Uint8Array;
  /** Stored in the superblock so that a wrong key is told apart from tampering. */
  check: Uint8Array;
}

export const VOLUME_KEY_SIZE = 32;

function derive(volumeKey: Uint8Array, uuid: Uint8Array, purpose: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', volumeKey, uuid, `cloister-volume v1 ${purpose}`, 32));
}

/**
 * Derives the volume's keys (HKDF-SHA256). The UUID salt makes them differ between volumes that
 * share a volume key, so that versions (hence GCM nonces) only need to be unique per volume.
 */
export function deriveVolumeKeys(volumeKey: Uint8Array, uuid: Uint8Array): VolumeKeys {
  if (volumeKey.length !== VOLUME_KEY_SIZE)
    throw new RangeError(`volume key must be ${VOLUME_KEY_SIZE} bytes, got ${volumeKey.length}`);
  return {
    data: derive(volumeKey, uuid, 'data'),
    superblock: derive(volumeKey, uuid, 'superblock'),
    check: derive(volumeKey, uuid, 'key check'),
  };
}
