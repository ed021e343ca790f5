/**
 * Turns `cloister run`/`measure` options (a --config file already applied, see run-file.ts) into the
 * measured RunConfig plus the host-only settings (host directory paths).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, posix, resolve } from 'node:path';
import {
  DEFAULT_MEMORY_MIB,
  DEFAULT_THREADS,
  MAX_THREADS,
  checkGuestPath,
  type MountConfig,
  type RunConfig,
} from '../interface/run-config.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface RunOptions {
  dir?: string[];
  tmpfs?: string[];
  env?: string[];
  memory?: string;
  config?: string;
  threads?: string;
}

export interface PreparedRun {
  config: RunConfig;
  hostDirs: string[];
}

const MAX_MEMORY_MIB = 4096;

/** Parses a size such as `256`, `256M`, `256MiB` or `1G` into MiB. */
export function parseMemory(text: string): number {
  const match = /^(\d+)\s*(m|mi|mib|mb|g|gi|gib|gb)?$/i.exec(text.trim());
  if (!match) throw new UsageError(`--memory: cannot read ${JSON.stringify(text)} (try 256M or 1G)`);
  const mib = Number(match[1]) * (match[2]?.toLowerCase().startsWith('g') ? 1024 : 1);
  if (mib < 1 || mib > MAX_MEMORY_MIB)
    throw new UsageError(`--memory must be between 1 MiB and ${MAX_MEMORY_MIB} MiB`);
  return mib;
}

/** Parses `--threads N`: the most program threads alive at once, 1 to MAX_THREADS. */
export function parseThreads(text: string): number {
  const n = /^\d{1,6}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1 && n <= MAX_THREADS)) {
    throw new UsageError(
      `--threads must be a whole number from 1 to ${MAX_THREADS}, not ${JSON.stringify(text)}`,
    );
  }
  return n;
}

/** `--threads` in the measured configuration: left out at the default, which measures the same. */
function threadsConfig(text: string | undefined): { threads?: number } {
  const threads = text === undefined ? DEFAULT_THREADS : parseThreads(text);
  return threads === DEFAULT_THREADS ? {} : { threads };
}

function envEntry(spec: string): string {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? spec : spec.slice(0, eq);
  if (name === '' || name.includes('\0'))
    throw new UsageError(`--env: bad variable name in ${JSON.stringify(spec)}`);
  if (eq >= 0) return spec;
  // `--env NAME` passes the host's value, as wasmtime does.
  const value = process.env[name];
  if (value === undefined) throw new UsageError(`--env ${name}: not set in the host environment`);
  return `${name}=${value}`;
}

/** `--dir DIR` without a guest path mounts DIR at /DIR (`.` at /), as wasmtime maps it. */
function guestPathOf(host: string): string {
  const trimmed = posix.normalize(host).replace(/^(\.\/)+|\/+$/g, '');
  return trimmed === '.' || trimmed === '' ? '/' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Builds the run configuration. */
export function prepareRun(programPath: string, programArgs: string[], options: RunOptions): PreparedRun {
  const mounts: MountConfig[] = [];
  const hostDirs: string[] = [];
  const seen = new Set<string>();
  const addMount = (guest: string, type: MountConfig['type']): void => {
    const problem = checkGuestPath(guest);
    if (problem) throw new UsageError(problem);
    if (seen.has(guest)) throw new UsageError(`two mounts at ${guest}`);
    seen.add(guest);
    mounts.push({ guest, type });
  };
  for (const spec of options.dir ?? []) {
    const sep = spec.indexOf('::');
    const host = sep < 0 ? spec : spec.slice(0, sep);
    const hostPath = resolve(host);
    if (!existsSync(hostPath) || !statSync(hostPath).isDirectory()) {
      throw new UsageError(`--dir ${spec}: ${host} is not a directory`);
    }
    addMount(sep < 0 ? guestPathOf(host) : spec.slice(sep + 2), 'hostdir');
    hostDirs.push(hostPath);
  }
  for (const guest of options.tmpfs ?? []) addMount(guest, 'tmpfs');
  const memory = options.memory;
  return {
    config: {
      version: 1,
      args: [basename(programPath), ...programArgs],
      env: (options.env ?? []).map(envEntry),
      mounts,
      memoryMiB: memory === undefined ? DEFAULT_MEMORY_MIB : parseMemory(memory),
      ...threadsConfig(options.threads),
    },
    hostDirs,
  };
}

/** Reads the program file with a clear error. */
export function readProgram(path: string): Uint8Array<ArrayBuffer> {
  if (!existsSync(path)) throw new UsageError(`${path}: no such file`);
  if (statSync(path).isDirectory()) throw new UsageError(`${path}: is a directory, not a program`);
  return new Uint8Array(readFileSync(path));
}

/** The program a command line names; without one (and without `--config`) it is a usage error. */
export function requireProgram(program: string | undefined): string {
  if (program === undefined)
    throw new UsageError("missing required argument 'PROGRAM' (or --config FILE naming it)");
  return program;
}
