/**
 * Keys of a dataflow job. Everything derives (HKDF-SHA-256) from one 32-byte job key held by the data
 * owner: input sealing from the key alone, the rest per job id, so that blocks of one job never open
 * in another. Today the key comes from a key file; next, executors get it from the KBS after
 * attestation (docs/dataflow.md).
 */
import { hkdfSync } from 'node:crypto';
import { DataflowError } from './errors.ts';

export type KeyPurpose = 'shuffle' | 'spill' | 'output' | 'result' | 'manifest';

export interface JobKeys {
  readonly jobId: string;
  readonly get: (purpose: KeyPurpose) => Buffer;
}

const derive = (key: Uint8Array, salt: string, info: string): Buffer =>
  Buffer.from(
    hkdfSync('sha256', key, Buffer.from(salt, 'utf8'), Buffer.from(`cloister-dataflow/v1 ${info}`), 32),
  );

/** Parses a key file: 32 raw bytes, or 64 hex digits (with optional trailing newline). */
export function parseKeyFile(bytes: Uint8Array): Buffer {
  if (bytes.length === 32) return Buffer.from(bytes);
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  throw new DataflowError('a key file holds 32 raw bytes or 64 hex digits');
}

export function inputKey(jobKey: Uint8Array): Buffer {
  return derive(jobKey, '', 'input');
}

export function jobKeys(jobKey: Uint8Array, jobId: string): JobKeys {
  if (!/^[0-9a-f]{32}$/.test(jobId)) throw new DataflowError(`bad job id ${JSON.stringify(jobId)}`);
  const cache = new Map<KeyPurpose, Buffer>();
  return {
    jobId,
    get(purpose) {
      let key = cache.get(purpose);
      if (!key) cache.set(purpose, (key = derive(jobKey, jobId, purpose)));
      return key;
    },
  };
}
