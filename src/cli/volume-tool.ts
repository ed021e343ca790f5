/**
 * `cloister volume ls | cp | rm | fsck`: each runs the volume tool (native/volume-tool, a WASI
 * program) in an enclave exactly as `cloister run` would run it, with the volume mounted at /vol and,
 * for `cp`, the host file's folder at /host. The host never sees the volume's plaintext except the
 * file the user copies out; the tool and its arguments are measured like any program.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { ExitKind, TRAP_STATUS } from '../interface/exit.ts';
import { launch } from '../host/launcher.ts';
import { SIM_WARNING } from '../tee/sim/enclave.ts';
import { planLaunch } from './launch-plan.ts';
import { UsageError } from './run-options.ts';
import toolWasm from './volume-tool.wasm';

/** Where the tool sees the volume and the host folder of `cp`. */
const VOLUME_GUEST = '/vol';
const HOST_GUEST = '/host';

export interface VolumeToolOptions {
  keyFile?: string;
  volumeKeyFile?: string;
  kbs?: string;
  kbsKey?: string;
  kbsCa?: string;
}

/** `VOLUME:/PATH` (or a bare `VOLUME`, its root) split into the volume file and the path inside. */
export interface VolumeRef {
  volume: string;
  path: string;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

/** A volume reference if `arg` is `FILE:/PATH` with FILE an existing file (and `arg` itself is not). */
export function volumeRef(arg: string): VolumeRef | undefined {
  const at = arg.indexOf(':/');
  if (at <= 0 || isFile(arg) || !isFile(arg.slice(0, at))) return undefined;
  return { volume: arg.slice(0, at), path: posix.resolve('/', arg.slice(at + 1)) };
}

/** `VOLUME[:/PATH]`: the volume must exist. */
export function requireVolumeRef(arg: string, command: string): VolumeRef {
  const ref = volumeRef(arg);
  if (ref) return ref;
  if (isFile(arg)) return { volume: arg, path: '/' };
  const at = arg.indexOf(':/');
  const volume = at > 0 ? arg.slice(0, at) : arg;
  throw new UsageError(`volume ${command} ${arg}: ${volume}: no such volume file`);
}

/** The tool's path for a path inside the volume. */
const inVolume = (path: string): string => (path === '/' ? VOLUME_GUEST : `${VOLUME_GUEST}${path}`);

interface ToolRun {
  ref: VolumeRef;
  /** The volume opened read-only (shared with other readers; its generation is not advanced). */
  readOnly: boolean;
  args: string[];
  /** A host folder mounted at /host (for `cp`). */
  hostDir?: string;
}

/** Runs the tool in an enclave; returns its exit status (the enclave's errors printed). */
export async function runVolumeTool(run: ToolRun, options: VolumeToolOptions): Promise<number> {
  const keyFile = options.volumeKeyFile ?? options.keyFile;
  if (keyFile === undefined) throw new UsageError('the volume key is needed: --key-file FILE');
  const scratch = mkdtempSync(join(tmpdir(), 'cloister-volume-tool-'));
  try {
    const tool = join(scratch, 'volume-tool.wasm');
    writeFileSync(tool, toolWasm);
    const plan = await planLaunch(
      tool,
      run.args,
      {
        volume: [`${run.ref.volume}::${VOLUME_GUEST}${run.readOnly ? ':ro' : ''}`],
        volumeKeyFile: [keyFile],
        dir: run.hostDir === undefined ? [] : [`${run.hostDir}::${HOST_GUEST}`],
        memory: '64M',
        kbs: options.kbs,
        kbsKey: options.kbsKey,
        kbsCa: options.kbsCa,
      },
      { lock: true },
    );
    process.stderr.write(`cloister: ${SIM_WARNING}\n`);
    let result;
    try {
      result = await launch(plan);
    } finally {
      plan.release();
    }
    if (result.kind === ExitKind.PROGRAM) return result.status;
    process.stderr.write(`cloister: error: ${result.message}\n`);
    return result.kind === ExitKind.TRAP ? TRAP_STATUS : result.status === 0 ? 1 : result.status;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `volume cp SRC DST`: exactly one side is `VOLUME:/PATH`. */
export function copyRun(source: string, target: string): ToolRun {
  const from = volumeRef(source);
  const to = volumeRef(target);
  if ((from === undefined) === (to === undefined)) {
    throw new UsageError(
      from
        ? 'volume cp: both sides are in volumes; copy out to the host, then in'
        : `volume cp: name the volume side as VOLUME:/PATH (neither ${source} nor ${target} is)`,
    );
  }
  if (from) {
    // Out of the volume: into an existing host folder, or as the host file named.
    const host = resolve(target);
    const intoDir = statSync(host, { throwIfNoEntry: false })?.isDirectory() ?? false;
    const folder = intoDir ? host : dirname(host);
    if (!(statSync(folder, { throwIfNoEntry: false })?.isDirectory() ?? false))
      throw new UsageError(`volume cp: ${dirname(target)}: no such folder`);
    const name = intoDir ? posix.basename(from.path) : basename(host);
    return {
      ref: from,
      readOnly: true,
      args: ['cp', inVolume(from.path), `${HOST_GUEST}/${name}`],
      hostDir: folder,
    };
  }
  const host = resolve(source);
  if (!isFile(host)) throw new UsageError(`volume cp: ${source}: no such file`);
  return {
    ref: to as VolumeRef,
    readOnly: false,
    args: ['cp', `${HOST_GUEST}/${basename(host)}`, inVolume((to as VolumeRef).path)],
    hostDir: dirname(host),
  };
}

export const listRun = (ref: VolumeRef): ToolRun => ({
  ref,
  readOnly: true,
  args: ['ls', inVolume(ref.path)],
});

export function removeRun(ref: VolumeRef, recursive: boolean): ToolRun {
  if (ref.path === '/')
    throw new UsageError('volume rm: name what to remove inside the volume: VOLUME:/PATH');
  return { ref, readOnly: false, args: ['rm', ...(recursive ? ['-r'] : []), inVolume(ref.path)] };
}

export const checkRun = (ref: VolumeRef): ToolRun => ({
  ref,
  readOnly: true,
  args: ['fsck', VOLUME_GUEST],
});
