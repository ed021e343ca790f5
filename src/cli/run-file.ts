/**
 * The run configuration file (`--config FILE`): everything `cloister run` accepts, in TOML (or JSON
 * for a `.json` file), with the command line's long option names as keys, plus `program` and `args`.
 * Paths in the file are relative to the file's folder, as in Gramine's manifest and Enarx.toml.
 * Command-line options are added after the file's (lists) or replace them (single values); a
 * PROGRAM on the command line replaces the file's program and args.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { UsageError } from './run-options.ts';

const MAX_FILE = 1 << 20;

type Kind = 'string' | 'path' | 'strings' | 'paths' | 'mounts' | 'size' | 'boolean' | 'env';

/** Each key of the file: the option it stands for (commander's name) and what its value is. */
const KEYS: Record<string, { option: string; kind: Kind }> = {
  program: { option: 'program', kind: 'path' },
  args: { option: 'args', kind: 'strings' },
  dir: { option: 'dir', kind: 'mounts' },
  tmpfs: { option: 'tmpfs', kind: 'strings' },
  env: { option: 'env', kind: 'env' },
  memory: { option: 'memory', kind: 'size' },
  threads: { option: 'threads', kind: 'size' },
  volume: { option: 'volume', kind: 'mounts' },
  'volume-key-file': { option: 'volumeKeyFile', kind: 'paths' },
  'key-file': { option: 'keyFile', kind: 'path' },
  'passphrase-file': { option: 'passphraseFile', kind: 'path' },
  'root-hash': { option: 'rootHash', kind: 'string' },
  'hash-offset': { option: 'hashOffset', kind: 'size' },
  'hash-file': { option: 'hashFile', kind: 'path' },
  overlay: { option: 'overlay', kind: 'boolean' },
  kbs: { option: 'kbs', kind: 'string' },
  'kbs-key': { option: 'kbsKey', kind: 'path' },
  'kbs-ca': { option: 'kbsCa', kind: 'path' },
  resource: { option: 'resource', kind: 'string' },
  sig: { option: 'sig', kind: 'path' },
  net: { option: 'net', kind: 'path' },
  tcplisten: { option: 'tcplisten', kind: 'strings' },
  backend: { option: 'backend', kind: 'string' },
};

export interface RunFile {
  program?: string;
  args?: string[];
  /** The options, under commander's names, with paths made absolute. */
  options: Record<string, unknown>;
}

async function parseFile(path: string): Promise<Record<string, unknown>> {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`--config ${path}: no such file`);
  if (statSync(path).size > MAX_FILE) throw new UsageError(`--config ${path}: larger than 1 MiB`);
  const text = readFileSync(path, 'utf8');
  // The TOML parser loads only for a TOML file: `cloister run` starts without it.
  const parse = extname(path) === '.json' ? JSON.parse : (await import('smol-toml')).parse;
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--config ${path}: expected a table of options`);
  }
  return parsed as Record<string, unknown>;
}

/** Reads a run configuration file into options; every key and value is checked. */
export async function readRunFile(path: string): Promise<RunFile> {
  const record = await parseFile(path);
  const base = dirname(resolve(path));
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    const spec = KEYS[key];
    const where = `--config ${path}: ${key}`;
    if (!spec) {
      throw new UsageError(
        `--config ${path}: unknown key ${JSON.stringify(key)} (known: ${Object.keys(KEYS).join(', ')})`,
      );
    }
    const strings = (v: unknown): string[] => {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
        throw new UsageError(`${where} must be a string or a list of strings`);
      }
      return list;
    };
    switch (spec.kind) {
      case 'string':
      case 'path':
        if (typeof value !== 'string' || value === '')
          throw new UsageError(`${where} must be a non-empty string`);
        options[spec.option] = spec.kind === 'path' ? at(value) : value;
        break;
      case 'strings':
        options[spec.option] = strings(value);
        break;
      case 'paths':
        options[spec.option] = strings(value).map(at);
        break;
      case 'mounts':
        // SOURCE::GUEST, the source relative to the file (a tmpfs-like GUEST alone stays as it is).
        options[spec.option] = strings(value).map((m) => {
          const sep = m.indexOf('::');
          return sep < 0 ? at(m) : `${at(m.slice(0, sep))}${m.slice(sep)}`;
        });
        break;
      case 'size':
        if (
          typeof value !== 'string' &&
          !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
        ) {
          throw new UsageError(`${where} must be a size such as "256M" or a whole number`);
        }
        options[spec.option] = String(value);
        break;
      case 'boolean':
        if (typeof value !== 'boolean') throw new UsageError(`${where} must be true or false`);
        options[spec.option] = value;
        break;
      case 'env':
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          options.env = Object.entries(value).map(([k, v]) => {
            if (typeof v !== 'string') throw new UsageError(`${where}.${k} must be a string`);
            return `${k}=${v}`;
          });
        } else options.env = strings(value);
        break;
    }
  }
  const { program, args, ...rest } = options;
  return { program: program as string | undefined, args: args as string[] | undefined, options: rest };
}

/**
 * Applies the run file `path` (`--config`) under the command line: the program, its arguments and
 * the options a run is planned from.
 */
export async function withRunFile<T extends { config?: string }>(
  path: string,
  program: string | undefined,
  args: string[],
  options: T,
): Promise<{ program: string; args: string[]; options: T }> {
  const file = await readRunFile(path);
  const merged: Record<string, unknown> = { ...file.options };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const before = merged[key];
    merged[key] = Array.isArray(before) && Array.isArray(value) ? [...before, ...value] : value;
  }
  if (program !== undefined) return { program, args, options: merged as T };
  if (file.program === undefined) {
    throw new UsageError(
      `--config ${path}: no program: set program = "app.wasm" (or an image) or give PROGRAM`,
    );
  }
  return { program: file.program, args: [...(file.args ?? []), ...args], options: merged as T };
}
