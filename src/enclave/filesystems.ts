/**
 * Builds the program's file namespace from the measured configuration: tmpfs, host directories,
 * writable volumes, the root disk image (with an optional writable overlay) and the attestation
 * pseudo-files. Without a root image each mount is a preopen of its own; with one, everything is
 * grafted into a single tree preopened at '/'.
 */
import { Errno, WasiError } from '../interface/errno.ts';
import type { EnclaveSecrets } from '../interface/enclave-start.ts';
import type { ClockSource, ConsoleCalls } from '../interface/services.ts';
import type { RunConfig } from '../interface/run-config.ts';
import { compileExt2fs, type Ext2fsModule } from '../common/ext4/index.ts';
import type { Preopen } from './libos/index.ts';
import type { HostChannel } from './ring/channel.ts';
import { RingHostDir } from './ring/host-services.ts';
import { DiskError, openRootImage, openVolumeMount, type OpenedDisk } from './storage/disks.ts';
import { createHostDirFs, createMountTree, createOverlayFs, createTmpfs } from './vfs/index.ts';
import { CachedHostDirCalls } from './vfs/hostdir-cache.ts';
import { createAttestationFs } from './attest/attestation-fs.ts';
import type { Platform } from './attest/platform-client.ts';
import type { FileSystem } from './vfs/index.ts';
import type { GenerationRecord } from './volume/freshness.ts';

/** Guest directory where the enclave publishes facts about itself (cf. Gramine's /dev/attestation). */
export const ATTESTATION_DIR = '/dev/attestation';

export interface Namespace {
  preopens: Preopen[];
  /** The program's bytes when it comes from the root image. */
  program?: Uint8Array<ArrayBuffer>;
  /** Sends the writes held for host directories, commits and closes the disks; call before the enclave exits. */
  close(): void;
}

export interface NamespaceContext {
  config: RunConfig;
  secrets: EnclaveSecrets;
  channel: HostChannel;
  console: ConsoleCalls;
  clock: ClockSource;
  mrenclave: Uint8Array;
  platform: Platform;
  ext2fsWasm: Uint8Array;
  /** Where volume generations are recorded (rollback protection); none without a pinned broker. */
  generations?: GenerationRecord;
  /** Told how far unlocking the root image's keyslot has come (the host's progress bar). */
  kdfProgress?: (fraction: number) => void;
}

export function buildNamespace(ctx: NamespaceContext): Namespace {
  const { config, channel } = ctx;
  const disks: OpenedDisk[] = [];
  let ext2fs: Ext2fsModule | undefined;
  const ext2fsModule = (): Ext2fsModule => (ext2fs ??= compileExt2fs(ctx.ext2fsWasm));
  const log = (line: string): void => ctx.console.write(2, new TextEncoder().encode(`${line}\n`));
  // One cache for all mounts: two mounts may be the same host directory.
  const hostDir = new CachedHostDirCalls(new RingHostDir(channel));
  channel.beforeCall = () => hostDir.flush();
  const close = (): void => {
    try {
      hostDir.finish();
    } finally {
      for (const disk of disks.splice(0).reverse()) disk.close();
    }
  };

  try {
    let hostMount = 0;
    let nextDevice = config.root ? (config.root.separateHashFile ? 2 : 1) : 0;
    let volumeIndex = 0;
    const mounts = config.mounts.map((mount) => {
      let fs: FileSystem;
      if (mount.type === 'tmpfs') fs = createTmpfs();
      else if (mount.type === 'hostdir') fs = createHostDirFs(hostDir, hostMount++);
      else {
        const disk = openVolumeMount(
          channel,
          nextDevice++,
          mount.uuid ?? '',
          ctx.secrets.volumeKeys[volumeIndex++],
          ext2fsModule(),
          log,
          () => ctx.clock.realtimeNs(),
          ctx.generations,
          mount.readOnly === true,
        );
        disks.push(disk);
        fs = disk.fs;
      }
      return { path: mount.guest, fs };
    });
    const attestation = { path: ATTESTATION_DIR, fs: createAttestationFs(ctx.platform, ctx.mrenclave) };

    if (!config.root) {
      // The attestation files appear inside a root mount, when there is one. They are never an
      // extra preopen: programs (and the WASI test suite) rely on which descriptors exist.
      const preopens = mounts.map(({ path, fs }) => ({
        guestPath: path,
        fs: path === '/' ? createMountTree(fs, [attestation]) : fs,
      }));
      return { preopens, close };
    }

    const rootDisk = openRootImage(
      channel,
      config.root,
      ctx.secrets.rootKey,
      ext2fsModule(),
      log,
      ctx.kdfProgress,
    );
    disks.push(rootDisk);
    const program = readProgram(rootDisk, config.root.program);
    const rootFs = config.root.overlay ? createOverlayFs(rootDisk.fs, createTmpfs()) : rootDisk.fs;
    const tree = createMountTree(rootFs, [attestation, ...mounts]);
    return { preopens: [{ guestPath: '/', fs: tree }], program, close };
  } catch (error) {
    close();
    throw error;
  }
}

function readProgram(disk: OpenedDisk, path: string): Uint8Array<ArrayBuffer> {
  const ext4 = disk.fs.ext4;
  try {
    const ino = ext4.lookup(path);
    if (ext4.stat(ino).type !== 'file')
      throw new DiskError(`${path} in the root image is not a regular file`);
    return new Uint8Array(ext4.readFile(ino));
  } catch (error) {
    if (error instanceof WasiError && error.errno === Errno.NOENT) {
      throw new DiskError(`${path}: no such file in the root image`);
    }
    if (error instanceof WasiError) throw new DiskError(`${path} in the root image: ${error.message}`);
    throw error;
  }
}
