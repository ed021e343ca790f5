/**
 * Key and passphrase files, read the same way by `image build` and `run`: a key file's bytes are the
 * key (as `cryptsetup --key-file`), a passphrase file's first line is the passphrase (a final LF or
 * CRLF is not part of it; a second line is refused rather than silently dropped).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { UsageError } from './run-options.ts';

const MAX_SECRET_FILE = 8 << 20;

function readSecretBytes(option: string, path: string): Uint8Array {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${option} ${path}: no such file`);
  if (statSync(path).size > MAX_SECRET_FILE) throw new UsageError(`${option} ${path}: larger than 8 MiB`);
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes.length === 0) throw new UsageError(`${option} ${path}: empty`);
  return bytes;
}

export function readKeyFile(path: string, option = '--key-file'): Uint8Array {
  return readSecretBytes(option, path);
}

export function readPassphraseFile(path: string, option = '--passphrase-file'): Uint8Array {
  const bytes = readSecretBytes(option, path);
  const newline = bytes.indexOf(0x0a);
  const end = newline < 0 ? bytes.length : newline;
  if (newline >= 0 && newline < bytes.length - 1) {
    throw new UsageError(`${option} ${path}: more than one line; the passphrase is the file's only line`);
  }
  const line = bytes.subarray(0, end > 0 && bytes[end - 1] === 0x0d ? end - 1 : end);
  if (line.length === 0) throw new UsageError(`${option} ${path}: the passphrase is empty`);
  return line;
}
