/**
 * Opens the enclave's disks from the measured configuration: the root image (host file → dm-verity
 * against the measured root hash → LUKS2 with the provisioned key → ext4, read-only) and writable
 * volumes (host file → authenticated encryption → ext4). Host device numbers follow the order the
 * host opened them in: the root image, its separate hash file if any, then each volume.
 */
import type { RootImageConfig } from '../../interface/run-config.ts';
import { HostBlockDevice } from '../blockdev/host-device.ts';
import { unlockLuks2, WrongKeyError } from '../../common/blockdev/luks2.ts';
import {
  BlockDeviceError,
  FormatError,
  IntegrityError,
  type BlockDevice,
  type BlockTransfer,
} from '../../common/blockdev/types.ts';
import { openVerity } from '../../common/blockdev/verity.ts';
import { BlockCache } from '../../common/blockdev/cache.ts';
import { Ext4Fs, type Ext2fsModule } from '../../common/ext4/index.ts';
import type { HostChannel } from '../ring/channel.ts';
import { openVolume, RollbackError } from '../../common/volume/volume.ts';
import { openRecordedVolume, type GenerationRecord } from '../volume/freshness.ts';
import { CounterError } from '../kbs/counters.ts';
import { Ext4FileSystem } from './ext4-vfs.ts';

/** The disks could not be opened: the run must not start. The message is one line for the user. */
export class DiskError extends Error {
  override name = 'DiskError';
}

/** Writes one line about a detected integrity failure (the program itself only sees EIO). */
export type IntegrityLog = (line: string) => void;

/** Logs every integrity failure of reads and writes through `dev`, then lets it propagate. */
function logged(dev: BlockDevice, what: string, log: IntegrityLog): BlockDevice {
  const report = (error: unknown): never => {
    if (error instanceof IntegrityError || error instanceof BlockDeviceError)
      log(`cloister: ${what}: ${error.message}`);
    throw error;
  };
  return {
    blockSize: dev.blockSize,
    blockCount: dev.blockCount,
    readInto: (block, dst) => {
      try {
        dev.readInto(block, dst);
      } catch (error) {
        report(error);
      }
    },
    ...(dev.startReadInto && {
      startReadInto: (block: number, dst: Uint8Array) => {
        try {
          const finish = (dev.startReadInto as NonNullable<BlockDevice['startReadInto']>)(block, dst);
          return () => {
            try {
              finish();
            } catch (error) {
              report(error);
            }
          };
        } catch (error) {
          return report(error);
        }
      },
    }),
    ...(dev.write && {
      write: (block: number, data: Uint8Array) => {
        try {
          dev.write?.(block, data);
        } catch (error) {
          report(error);
        }
      },
    }),
    ...(dev.writeMany && {
      writeMany: (pieces: readonly BlockTransfer[]) => {
        try {
          dev.writeMany?.(pieces);
        } catch (error) {
          report(error);
        }
      },
    }),
    flush: () => {
      try {
        dev.flush?.();
      } catch (error) {
        report(error);
      }
    },
  };
}

function refuse(what: string, error: unknown): never {
  if (error instanceof WrongKeyError) throw new DiskError(`${what}: wrong key or passphrase`);
  if (error instanceof RollbackError)
    throw new DiskError(
      `${what}: ${error.message.replace(/^volume: /, '').replace('recorded', 'recorded by the key broker')}`,
    );
  if (error instanceof CounterError) throw new DiskError(`${what}: key broker counter: ${error.message}`);
  if (error instanceof IntegrityError || error instanceof FormatError || error instanceof BlockDeviceError) {
    throw new DiskError(`${what}: ${error.message}`);
  }
  throw error;
}

/** Up to 512 KiB per sequential read: fewer, larger host reads and crypto calls. */
const READ_AHEAD_BLOCKS = 128;

export interface OpenedDisk {
  fs: Ext4FileSystem;
  /** Commits and closes (writable disks make their last atomic commit here). */
  close(): void;
}

/**
 * Opens the root image read-only; refuses to start on any mismatch with the measured config.
 * `onKdfProgress` is told how far the keyslot's key derivation has come.
 */
export function openRootImage(
  channel: HostChannel,
  root: RootImageConfig,
  key: Uint8Array | undefined,
  ext2fs: Ext2fsModule,
  log: IntegrityLog,
  onKdfProgress?: (fraction: number) => void,
): OpenedDisk {
  try {
    // 512-byte host blocks: images made by veritysetup may use any block size from 512 up.
    const image = new HostBlockDevice(channel, 0, 512);
    const hash = root.separateHashFile ? new HostBlockDevice(channel, 1, 512) : image;
    const verity = openVerity({
      data: image,
      hash,
      rootHash: root.rootHash,
      hashOffset: root.hashOffset,
      expect: { dataBlocks: root.dataBlocks },
    });
    let plain: BlockDevice = verity;
    if (root.luksUuid !== null) {
      if (!key) throw new DiskError('root image: it is encrypted; give --key-file or --passphrase-file');
      plain = unlockLuks2(verity, key, { expectedUuid: root.luksUuid, onKdfProgress });
    }
    const cache = new BlockCache(logged(plain, 'root image', log), { readAhead: READ_AHEAD_BLOCKS });
    const ext4 = Ext4Fs.open(cache, { wasm: ext2fs, readOnly: true });
    return { fs: new Ext4FileSystem(ext4, true), close: () => ext4.close() };
  } catch (error) {
    return refuse('root image', error);
  }
}

/**
 * Opens a volume (writable unless `readOnly`); its UUID must be the measured one. With `generations`
 * (the key broker's counters) an older generation than recorded is refused and every commit recorded.
 */
export function openVolumeMount(
  channel: HostChannel,
  device: number,
  uuid: string,
  key: Uint8Array | undefined,
  ext2fs: Ext2fsModule,
  log: IntegrityLog,
  now: () => bigint,
  generations?: GenerationRecord,
  readOnly = false,
): OpenedDisk {
  const what = `volume ${uuid}`;
  try {
    if (!key) throw new DiskError(`${what}: no key (give --volume-key-file)`);
    const raw = new HostBlockDevice(channel, device, 4096, !readOnly);
    const opts = { expectedUuid: uuidBytes(uuid), readOnly };
    const volume = generations ? openRecordedVolume(raw, key, generations, opts) : openVolume(raw, key, opts);
    const ext4 = Ext4Fs.open(new BlockCache(logged(volume, what, log)), { wasm: ext2fs, readOnly, now });
    return { fs: new Ext4FileSystem(ext4, readOnly), close: () => ext4.close() };
  } catch (error) {
    return refuse(what, error);
  }
}

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new DiskError(`volume UUID ${uuid} is malformed`);
  return Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}
