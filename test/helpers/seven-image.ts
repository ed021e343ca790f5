// An encrypted, passphrase-protected image whose one program exits with status 7: when a run
// returns 7, the enclave unlocked the image and ran it.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, watFile } from './cli.ts';

export const SEVEN = `(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))`;

/** Builds `image` from DIR/rootfs (made on first use) with `/bin/seven.wasm`; `kdf` adds flags. */
export async function buildSevenImage(
  dir: string,
  image: string,
  passphraseFile: string,
  kdf: string[] = [],
): Promise<void> {
  const rootfs = join(dir, 'rootfs');
  if (!existsSync(join(rootfs, 'bin/seven.wasm'))) {
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync(await watFile('seven', SEVEN), join(rootfs, 'bin/seven.wasm'));
  }
  const r = await runCli([
    'image',
    'build',
    '--from',
    rootfs,
    '-o',
    image,
    '--encrypt',
    '--passphrase-file',
    passphraseFile,
    ...kdf,
  ]);
  assert.equal(r.code, 0, r.stderr);
}
