/**
 * The enclave bundle's V8 code cache (`dist/enclave.js.v8cache`, written by scripts/build.mjs):
 * V8's compiled form of the bundle, so an enclave starts without parsing and compiling 650 KB of
 * JavaScript. It is not measured and changes nothing that runs: V8 still compiles the measured
 * source text, and takes from the cache only what it would have compiled from that text. So the
 * cache is used only when it was made for exactly this bundle: the file records the SHA-256 of the
 * bundle and of the cache bytes, both checked here; V8 itself rejects a cache made by another V8
 * version or with other flags (the bundle then compiles as without a cache). A stale, corrupt or
 * foreign cache costs the start-up time it would have saved, never a different behaviour.
 *
 * File layout: SHA-256 of the bundle source (UTF-8), SHA-256 of the cache bytes, the cache bytes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENCLAVE_CODE_CACHE_FILE, packageRoot } from './package-files.ts';

const DIGEST_BYTES = 32;

// node:crypto is loaded on first use, not imported: `cli.cjs` starts the enclave Worker before it
// needs a digest, and loading the module (~3 ms) would hold the Worker's start back.
const sha256 = (data: Uint8Array | string): Buffer =>
  process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest();

/** The cache file's bytes for `payload`, V8's cached data for `bundleSource`. */
export function encodeCodeCache(bundleSource: string, payload: Uint8Array): Buffer {
  return Buffer.concat([sha256(bundleSource), sha256(payload), payload]);
}

/** The cached data in `file` when it was made for `bundleSource` and is intact; otherwise undefined. */
export function decodeCodeCache(bundleSource: string, file: Uint8Array): Buffer | undefined {
  if (file.length <= 2 * DIGEST_BYTES) return undefined;
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.length);
  const payload = bytes.subarray(2 * DIGEST_BYTES);
  if (!sha256(bundleSource).equals(bytes.subarray(0, DIGEST_BYTES))) return undefined;
  if (!sha256(payload).equals(bytes.subarray(DIGEST_BYTES, 2 * DIGEST_BYTES))) return undefined;
  return payload;
}

/** The checked code cache beside the enclave bundle in dist/, or undefined (none, stale or damaged). */
export function readEnclaveCodeCache(bundleSource: string): Buffer | undefined {
  const path = join(packageRoot(), 'dist', ENCLAVE_CODE_CACHE_FILE);
  return existsSync(path) ? decodeCodeCache(bundleSource, readFileSync(path)) : undefined;
}
