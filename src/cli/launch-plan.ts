/**
 * Everything `run` and `measure` derive from the command line: the measured RunConfig, the
 * program bytes (empty when the program comes from a root image, whose root hash measures it),
 * the host-only settings and the keys provisioned at launch.
 */
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import type { KbsConfig, RunConfig } from '../interface/run-config.ts';
import type { NetConfig, NetSecrets } from '../interface/net-config.ts';
import type { BlockDeviceFile } from '../host/host-calls.ts';
import { looksLikeImage } from './disk-detect.ts';
import type { DiskOptions, PreparedDisks } from './disk-options.ts';
import { withImageOptions } from './run-command-options.ts';
import { prepareRun, readProgram, requireProgram, UsageError, type RunOptions } from './run-options.ts';
import { existsSync, readFileSync } from 'node:fs';
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { verifySigstruct, type Sigstruct } from '../attestation/sigstruct.ts';

export interface LaunchPlan {
  wasm: Uint8Array<ArrayBuffer>;
  config: RunConfig;
  hostDirs: string[];
  blockDevices: BlockDeviceFile[];
  secrets: EnclaveSecrets;
  /** CA certificates (PEM) the host trusts for an https key broker (`--kbs-ca`; host-only). */
  kbsCa?: string;
  /** The verified SIGSTRUCT given with --sig. */
  sig?: Sigstruct;
  /** Releases the volume locks taken for the run (`lock`); call when the run has ended. */
  release(): void;
}

/** `cloister run [options] FILE [--] ARGS...`: a leading `--` after FILE is dropped. */
export function programArgs(args: string[]): string[] {
  return args[0] === '--' ? args.slice(1) : args;
}

export interface NetOptions {
  net?: string;
  tcplisten?: string[];
}

export interface KbsOptions {
  kbs?: string;
  resource?: string;
  kbsKey?: string;
  kbsCa?: string;
}

/** `--kbs-ca FILE`: PEM certificates the host's relay adds to its trusted CAs. */
function readKbsCa(path: string): string {
  if (!existsSync(path)) throw new UsageError(`--kbs-ca ${path}: no such file`);
  const text = readFileSync(path, 'utf8');
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new UsageError(`--kbs-ca ${path}: no PEM certificate in it`);
  return text;
}

/** The broker's public key from a JWK (JSON) or PEM file: P-256 only, as a minimal JWK. */
function readBrokerKey(path: string): NonNullable<KbsConfig['brokerKey']> {
  if (!existsSync(path)) throw new UsageError(`--kbs-key ${path}: no such file`);
  const text = readFileSync(path, 'utf8');
  let key: KeyObject;
  try {
    key = text.trimStart().startsWith('{')
      ? createPublicKey({ key: JSON.parse(text) as JsonWebKey, format: 'jwk' })
      : createPublicKey(text);
  } catch (error) {
    throw new UsageError(`--kbs-key ${path}: not a public key (${(error as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new UsageError(`--kbs-key ${path}: the broker key is an EC P-256 key`);
  const { x, y } = key.export({ format: 'jwk' });
  return { kty: 'EC', crv: 'P-256', x: x as string, y: y as string };
}

function kbsConfig(options: KbsOptions, hasImage: boolean, hasVolumes: boolean): KbsConfig {
  let url: URL;
  try {
    url = new URL(options.kbs ?? '');
  } catch {
    throw new UsageError(`--kbs ${options.kbs}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError('--kbs must be an http(s) URL');
  if (options.resource !== undefined) {
    if (!/^[\w.-]+\/[\w.-]+\/[\w.-]+$/.test(options.resource))
      throw new UsageError('--resource: expected REPOSITORY/TYPE/TAG');
    if (!hasImage)
      throw new UsageError('--kbs releases the key of a root disk image: run IMG --kbs URL -- /prog');
  } else if (!hasVolumes) {
    throw new UsageError('--kbs needs --resource REPOSITORY/TYPE/TAG (or volumes, with --kbs-key)');
  }
  // The broker's counter replies cross the host: unsigned, they would only look like protection.
  if (hasVolumes && options.kbsKey === undefined)
    throw new UsageError(
      "--kbs with --volume needs --kbs-key FILE (the broker's public key, from `cloister kbs public-key`): " +
        'without it the rollback protection of the volumes could not be trusted',
    );
  return {
    url: url.href.replace(/\/$/, ''),
    ...(options.resource !== undefined && { resource: options.resource }),
    ...(options.kbsKey !== undefined && { brokerKey: readBrokerKey(options.kbsKey) }),
  };
}

function readSig(path: string): Sigstruct {
  if (!existsSync(path)) throw new UsageError(`--sig ${path}: no such file`);
  try {
    return verifySigstruct(new Uint8Array(readFileSync(path)));
  } catch (error) {
    throw new UsageError(`--sig ${path}: ${(error as Error).message}`);
  }
}

/** Whether a run has a root image or volumes, or an option of theirs (then `disk-options.ts` loads). */
function namesDisks(image: string | undefined, options: DiskOptions): boolean {
  const { keyFile, passphraseFile, rootHash, hashOffset, hashFile, overlay, volume, volumeKeyFile } = options;
  return (
    image !== undefined ||
    [keyFile, passphraseFile, rootHash, hashOffset, hashFile, overlay].some((o) => o !== undefined) ||
    (volume ?? []).length > 0 ||
    (volumeKeyFile ?? []).length > 0
  );
}

/**
 * Loads what the run's options need: the image and volume formats (with their crypto) and the
 * WireGuard configuration (with its curves) load only for a run that has them, so that a plain
 * `cloister run` starts without them.
 */
export async function planLaunch(
  file: string,
  rawArgs: string[],
  options: RunOptions & DiskOptions & KbsOptions & NetOptions & { sig?: string },
  { lock = false }: { lock?: boolean } = {},
): Promise<LaunchPlan> {
  const args = programArgs(rawArgs);
  const treeNamed = options.rootHash !== undefined || options.hashFile !== undefined;
  const image = looksLikeImage(file, treeNamed) ? file : undefined;
  const inImage = image ? args[0] : undefined;
  const disks: PreparedDisks = namesDisks(image, options)
    ? (await import('./disk-options.ts')).prepareDisks(image, inImage, options, lock)
    : { volumeMounts: [], blockDevices: [], secrets: { volumeKeys: [] }, locks: [] };
  const net =
    options.net === undefined && (options.tcplisten ?? []).length === 0
      ? undefined
      : (await import('./net.ts')).netRunConfig(options.net, options.tcplisten ?? []);
  const release = (): void => disks.locks.forEach((l) => l.release());
  try {
    return planWithDisks(file, args, image, inImage, options, disks, net, release);
  } catch (error) {
    release();
    throw error;
  }
}

function planWithDisks(
  file: string,
  args: string[],
  image: string | undefined,
  inImage: string | undefined,
  options: RunOptions & DiskOptions & KbsOptions & NetOptions & { sig?: string },
  disks: PreparedDisks,
  net: { config: NetConfig; secrets: NetSecrets } | undefined,
  release: () => void,
): LaunchPlan {
  if (options.kbsKey !== undefined && options.kbs === undefined)
    throw new UsageError('--kbs-key pins the key of the broker given with --kbs URL');
  if (options.kbsCa !== undefined && options.kbs === undefined)
    throw new UsageError('--kbs-ca is for the https key broker given with --kbs URL');
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
    ...(net && { net: net.config }),
    mounts: [...prepared.config.mounts, ...disks.volumeMounts],
    ...(disks.root && { root: disks.root, args: [basename(inImage ?? ''), ...args.slice(1)] }),
    ...(options.kbs !== undefined && {
      kbs: kbsConfig(options, disks.root !== undefined, disks.volumeMounts.length > 0),
    }),
  };
  return {
    wasm: image ? new Uint8Array(0) : readProgram(file),
    config,
    hostDirs: prepared.hostDirs,
    blockDevices: disks.blockDevices,
    secrets: net ? { ...disks.secrets, net: net.secrets } : disks.secrets,
    ...(options.kbsCa !== undefined && { kbsCa: readKbsCa(options.kbsCa) }),
    sig: options.sig === undefined ? undefined : readSig(options.sig),
    release,
  };
}

/**
 * A run as the command line describes it: the --config file applied under the command line's
 * options, options between a disk image and `--` picked up, then planned.
 */
export async function planCommandLine<
  O extends RunOptions & DiskOptions & KbsOptions & NetOptions & { sig?: string },
>(
  program: string | undefined,
  args: string[],
  options: O,
  how: { lock?: boolean; commandOptions?: (command: Command) => Command } = {},
): Promise<LaunchPlan & { options: O }> {
  // The run-file reader (and its TOML parser) loads only for --config.
  const run =
    options.config === undefined
      ? { program: requireProgram(program), args, options }
      : await (await import('./run-file.ts')).withRunFile(options.config, program, args, options);
  const [programArgs, merged] = withImageOptions(run.program, run.args, run.options, how.commandOptions);
  return { ...(await planLaunch(run.program, programArgs, merged, how)), options: merged };
}
