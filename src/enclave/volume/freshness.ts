/**
 * Rollback protection across runs: a volume opened against a trusted record of its committed
 * generation (the key broker's counter), kept up to date at every commit.
 *
 * Order (docs/storage.md): a commit reaches the disk first, then the record advances; at open, any
 * disk generation at or above the record is accepted and the record advanced to it. So a crash
 * between the two never locks the user out — it leaves the disk one commit ahead, which the next
 * open records — and a `flush()` that returns has its generation recorded: it cannot be rolled back.
 */
import { BlockDeviceError, type BlockDevice, type BlockTransfer } from '../../common/blockdev/types.ts';
import { openVolume, type OpenVolumeOptions, type VolumeDevice } from '../../common/volume/volume.ts';

/** A record of each volume's committed generation that the host cannot roll back. */
export interface GenerationRecord {
  /** The generation recorded for the volume `uuid` (32 hex digits), 0 when there is none yet. */
  recorded(uuid: string): number;
  /** Records `generation` for `uuid`; throws when it cannot (the record refuses to go back). */
  advance(uuid: string, generation: number): void;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/**
 * A volume whose every commit is recorded: `flush()` commits, then advances the record; a failure
 * to record makes the flush fail, and the device refuse further use (the commit is on disk, the
 * record behind it: exactly the crash window, which the next open closes).
 */
export class RecordedVolume implements BlockDevice {
  readonly blockSize: number;
  readonly blockCount: number;
  private readonly uuid: string;
  private failure: Error | undefined;

  constructor(
    readonly volume: VolumeDevice,
    private readonly record: GenerationRecord,
    private recordedGeneration: number,
  ) {
    this.blockSize = volume.blockSize;
    this.blockCount = volume.blockCount;
    this.uuid = hex(volume.uuid);
  }

  readInto(block: number, dst: Uint8Array): void {
    this.usable();
    this.volume.readInto(block, dst);
  }

  write(block: number, data: Uint8Array): void {
    this.usable();
    this.volume.write(block, data);
  }

  writeMany(pieces: readonly BlockTransfer[]): void {
    this.usable();
    this.volume.writeMany(pieces);
  }

  flush(): void {
    this.usable();
    this.volume.flush();
    this.catchUp();
  }

  /** Brings the record up to the volume's generation on disk. */
  catchUp(): void {
    const generation = this.volume.generation;
    if (generation <= this.recordedGeneration) return;
    try {
      this.record.advance(this.uuid, generation);
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw new BlockDeviceError(
        `volume: generation ${generation} is on disk but could not be recorded (${this.failure.message})`,
      );
    }
    this.recordedGeneration = generation;
  }

  private usable(): void {
    if (this.failure)
      throw new BlockDeviceError(
        `volume: unusable, its last commit was not recorded (${this.failure.message})`,
      );
  }
}

/**
 * Opens the volume with `expectedUuid` refusing any generation below the recorded one
 * (`RollbackError`, naming both), then records the generation found (it may be ahead after a crash).
 */
export function openRecordedVolume(
  dev: BlockDevice,
  volumeKey: Uint8Array,
  record: GenerationRecord,
  opts: OpenVolumeOptions & { expectedUuid: Uint8Array },
): RecordedVolume {
  const recorded = record.recorded(hex(opts.expectedUuid));
  const volume = openVolume(dev, volumeKey, { ...opts, minGeneration: recorded });
  const recordedVolume = new RecordedVolume(volume, record, recorded);
  recordedVolume.catchUp();
  return recordedVolume;
}
