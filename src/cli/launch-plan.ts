/**
 * Everything `run` and `measure` derive from the command line: the measured RunConfig, the
 * program bytes (empty when the program comes from a root image, whose root hash measures it),
 * the host-only settings and the keys provisioned at launch.
 */
import { basename } from 'node:path';
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import type { KbsConfig, RunConfig } from '../interface/run-config.ts';
import type { BlockDeviceFile } from '../host/host-calls.ts';
import { looksLikeImage, prepareDisks, type DiskOptions } from './disk-options.ts';
import { withImageOptions } from './run-command-options.ts';
import { withRunFile } from './run-file.ts';
import { prepareRun, readProgram, UsageError, type RunOptions } from './run-options.ts';
import { existsSync, readFileSync } from 'node:fs';
import { verifySigstruct, type Sigstruct } from '../attestation/sigstruct.ts';

export interface LaunchPlan {
  wasm: Uint8Array<ArrayBuffer>;
  config: RunConfig;
  hostDirs: string[];
  blockDevices: BlockDeviceFile[];
  secrets: EnclaveSecrets;
  /** The verified SIGSTRUCT given with --sig. */
  sig?: Sigstruct;
}

/** `cloister run [options] FILE [--] ARGS...`: a leading `--` after FILE is dropped. */
export function programArgs(args: string[]): string[] {
  return args[0] === '--' ? args.slice(1) : args;
}

export interface KbsOptions {
  kbs?: string;
  resource?: string;
}

function kbsConfig(options: KbsOptions, hasImage: boolean): KbsConfig {
  let url: URL;
  try {
    url = new URL(options.kbs ?? '');
  } catch {
    throw new UsageError(`--kbs ${options.kbs}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--kbs must be an http(s) URL');
  if (!options.resource || !/^[\w.-]+\/[\w.-]+\/[\w.-]+$/.test(options.resource)) {
    throw new UsageError('--kbs needs --resource REPOSITORY/TYPE/TAG');
  }
  if (!hasImage)
    throw new UsageError('--kbs releases the key of a root disk image: run IMG --kbs URL -- /prog');
  return { url: url.href.replace(/\/$/, ''), resource: options.resource };
}

function readSig(path: string): Sigstruct {
  if (!existsSync(path)) throw new UsageError(`--sig ${path}: no such file`);
  try {
    return verifySigstruct(new Uint8Array(readFileSync(path)));
  } catch (error) {
    throw new UsageError(`--sig ${path}: ${(error as Error).message}`);
  }
}

export function planLaunch(
  file: string,
  rawArgs: string[],
  options: RunOptions & DiskOptions & KbsOptions & { sig?: string },
): LaunchPlan {
  const args = programArgs(rawArgs);
  const treeNamed = options.rootHash !== undefined || options.hashFile !== undefined;
  const image = looksLikeImage(file, treeNamed) ? file : undefined;
  const inImage = image ? args[0] : undefined;
  const disks = prepareDisks(image, inImage, options);
  const prepared = image
    ? prepareRun(inImage ?? '', args.slice(1), options)
    : prepareRun(file, args, options);
  const clash = disks.root && [...prepared.config.mounts, ...disks.volumeMounts].find((m) => m.guest === '/');
  if (clash) {
    const option = { hostdir: '--dir', tmpfs: '--tmpfs', volume: '--volume' }[clash.type];
    throw new UsageError(`${option} at / clashes with the root image, which is / itself: mount it elsewhere`);
  }
  const config: RunConfig = {
    ...prepared.config,
    mounts: [...prepared.config.mounts, ...disks.volumeMounts],
    ...(disks.root && { root: disks.root, args: [basename(inImage ?? ''), ...args.slice(1)] }),
    ...(options.kbs !== undefined && { kbs: kbsConfig(options, disks.root !== undefined) }),
  };
  return {
    wasm: image ? new Uint8Array(0) : readProgram(file),
    config,
    hostDirs: prepared.hostDirs,
    blockDevices: disks.blockDevices,
    secrets: disks.secrets,
    sig: options.sig === undefined ? undefined : readSig(options.sig),
  };
}

/**
 * A run as the command line describes it: the --config file applied under the command line's
 * options, options between a disk image and `--` picked up, then planned.
 */
export function planCommandLine(
  program: string | undefined,
  args: string[],
  options: RunOptions & DiskOptions & KbsOptions & { sig?: string },
): LaunchPlan {
  const run = withRunFile(program, args, options);
  return planLaunch(run.program, ...withImageOptions(run.program, run.args, run.options));
}
