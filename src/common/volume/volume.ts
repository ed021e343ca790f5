import { randomBytes } from 'node:crypto';
import { checkTransfer } from '../blockdev/io.ts';
import { WrongKeyError } from '../blockdev/luks2.ts';
import {
  BlockDeviceError,
  FormatError,
  IntegrityError,
  type BlockDevice,
  type BlockTransfer,
} from '../blockdev/types.ts';
import { SALT_SIZE, openBlock, sealBlock } from './aead.ts';
import { deriveVolumeKeys, type VolumeKeys } from './keys.ts';
import { Geometry, UNIT, UnitIo } from './layout.ts';
import {
  encodeSuperblock,
  keyCheckMatches,
  parseSuperblock,
  superblockMacValid,
  type RawSuperblock,
} from './superblock.ts';
import { MetaTree, type LeafEntry, type NodeRef } from './tree.ts';

/**
 * The volume opened is older than the caller knows it to be: the host rolled the whole volume back
 * (or hid its newest superblock). Only detectable against a generation kept outside the host's reach.
 */
export class RollbackError extends Error {
  override readonly name = 'RollbackError';
  constructor(
    message: string,
    /** The generation found on disk. */
    readonly found: number,
    /** The generation the trusted record holds. */
    readonly recorded: number,
  ) {
    super(message);
  }
}

/** Versions reserved by one durable superblock write; a crash wastes at most this many. */
const VERSION_RESERVATION = 1 << 20;

/** Options for {@link openVolume}. */
export interface OpenVolumeOptions {
  /**
   * The generation a trusted monotonic counter or key broker remembers from the last flush: an older
   * volume is refused with {@link RollbackError}. Without it, a whole-volume rollback goes unnoticed.
   */
  minGeneration?: number;
  /** Refuse a volume with another UUID (matters when several volumes share a key). */
  expectedUuid?: Uint8Array;
  /** Never write (also implied by a device without `write`). */
  readOnly?: boolean;
}

/** Options for {@link formatVolume}. */
export interface FormatVolumeOptions {
  /** 16 bytes; default random. */
  uuid?: Uint8Array;
  /** Capacity in 4 KiB blocks; default the most the device holds (a little under half of it). */
  logicalBlocks?: number;
}

interface VolumeState {
  io: UnitIo;
  geo: Geometry;
  keys: VolumeKeys;
  uuid: Uint8Array;
  tree: MetaTree;
  root: NodeRef;
  generation: number;
  versionLimit: number;
  /** The A/B slot holding the newest superblock. */
  sbSlot: number;
  readOnly: boolean;
}

/**
 * A writable volume: 4 KiB logical blocks, each encrypted and authenticated with AES-256-GCM under a
 * nonce and associated data that bind its block number and version, the versions and tags kept in a
 * Merkle tree whose root lives in enclave memory and, at each flush, in a MACed superblock.
 * `flush()` commits every write since the last one atomically (see docs/storage.md).
 */
export class VolumeDevice implements BlockDevice {
  readonly blockSize = UNIT;
  readonly blockCount: number;
  private readonly s: VolumeState;
  private nextVersion: number;
  /** Blocks written since the last commit: they sit in their uncommitted slot already. */
  private readonly written = new Set<number>();
  private failure: Error | undefined;
  private readonly salt = randomBytes(SALT_SIZE);

  /** @internal use {@link openVolume} or {@link formatVolume}. */
  constructor(state: VolumeState) {
    this.s = state;
    this.blockCount = state.geo.logicalBlocks;
    this.nextVersion = state.versionLimit;
  }

  /** The volume UUID (16 bytes). */
  get uuid(): Uint8Array {
    return this.s.uuid.slice();
  }

  /**
   * The generation of the newest superblock on disk. After each `flush()` the runtime should hand it
   * to a trusted counter or key broker, and pass it back as `minGeneration` at the next open.
   */
  get generation(): number {
    return this.s.generation;
  }

  get readOnly(): boolean {
    return this.s.readOnly;
  }

  /**
   * Reads the blocks' ciphertexts straight into `dst`, all in one request below, then authenticates
   * and decrypts each in place.
   */
  readInto(block: number, dst: Uint8Array): void {
    this.usable();
    const count = checkTransfer(this, block, dst);
    const { tree, geo } = this.s;
    const reads: { unit: number; data: Uint8Array }[] = [];
    const sealed: { block: number; entry: LeafEntry; place: Uint8Array }[] = [];
    for (let i = 0; i < count; i++) {
      const entry = tree.entry(block + i);
      const place = dst.subarray(i * UNIT, (i + 1) * UNIT);
      // A never-written block reads as zeros.
      if (entry.version === 0) place.fill(0);
      else {
        reads.push({ unit: geo.dataUnit(block + i, entry.slot), data: place });
        sealed.push({ block: block + i, entry, place });
      }
    }
    if (reads.length > 0) this.s.io.readMany(reads);
    for (const { block, entry, place } of sealed) this.open(block, entry, place);
  }

  /** Authenticates and decrypts the ciphertext of `block` in `place`, or throws `IntegrityError`. */
  private open(block: number, e: LeafEntry, place: Uint8Array): void {
    const binding = { uuid: this.s.uuid, block, version: e.version, salt: e.salt };
    const pt = openBlock(this.s.keys.data, binding, place, e.tag);
    if (!pt)
      throw new IntegrityError(
        `volume: data block ${block} (version ${e.version}, slot ${e.slot}) fails authentication`,
        block,
      );
    place.set(pt);
  }

  write(block: number, data: Uint8Array): void {
    this.writeMany([{ block, data }]);
  }

  /** Seals every block of every piece and writes them all in one request below. */
  writeMany(pieces: readonly BlockTransfer[]): void {
    this.usable();
    if (this.s.readOnly) throw new BlockDeviceError('volume: opened read-only');
    for (const p of pieces) checkTransfer(this, p.block, p.data);
    this.guard(() => {
      const { tree, geo, keys, uuid, io } = this.s;
      const writes: { unit: number; data: Uint8Array }[] = [];
      const entries: { block: number; entry: LeafEntry }[] = [];
      for (const { block: first, data } of pieces) {
        for (let i = 0; i < data.length / UNIT; i++) {
          const block = first + i;
          const version = this.takeVersion();
          const e = tree.entry(block);
          // The first write since the commit goes to the other slot; later ones overwrite that same slot.
          const slot = this.written.has(block) ? e.slot : 1 - e.slot;
          const salt = this.salt;
          const plain = data.subarray(i * UNIT, (i + 1) * UNIT);
          const { ciphertext, tag } = sealBlock(keys.data, { uuid, block, version, salt }, plain);
          writes.push({ unit: geo.dataUnit(block, slot), data: ciphertext });
          entries.push({ block, entry: { version, slot, salt, tag } });
        }
      }
      io.writeMany(writes);
      for (const { block, entry } of entries) {
        tree.setEntry(block, entry);
        this.written.add(block);
      }
    });
  }

  /** A fresh version; reserving more first, durably, so a crashed session's versions never recur. */
  private takeVersion(): number {
    if (this.nextVersion >= this.s.versionLimit)
      this.writeSuperblock(this.s.root, this.nextVersion + VERSION_RESERVATION);
    return this.nextVersion++;
  }

  /** Commits every write since the last flush atomically: tree nodes, barrier, superblock, barrier. */
  flush(): void {
    this.usable();
    if (this.s.readOnly) return;
    this.guard(() => {
      // Nothing written since the last commit: it is already durable (SQLite syncs often).
      if (!this.s.tree.isDirty) return;
      const nodes: { unit: number; data: Uint8Array }[] = [];
      const root = this.s.tree.writeDirty((unit, data) => nodes.push({ unit, data }));
      this.s.io.writeMany(nodes);
      this.s.io.flush();
      this.writeSuperblock(root, this.s.versionLimit);
      this.written.clear();
    });
  }

  /** Writes the older superblock copy with the next generation and waits for it to be durable. */
  private writeSuperblock(root: NodeRef, versionLimit: number): void {
    const s = this.s;
    const sb = {
      uuid: s.uuid,
      logicalBlocks: s.geo.logicalBlocks,
      generation: s.generation + 1,
      versionLimit,
      rootSlot: root.slot,
      rootHash: root.hash,
      keyCheck: s.keys.check,
    };
    const slot = 1 - s.sbSlot;
    s.io.write(slot, encodeSuperblock(sb, s.geo.levels, s.keys.superblock));
    s.io.flush();
    s.sbSlot = slot;
    s.generation = sb.generation;
    s.versionLimit = versionLimit;
    s.root = root;
  }

  /** After a failed device write or flush the in-memory state may be ahead of the disk: stop. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  private usable(): void {
    if (this.failure)
      throw new BlockDeviceError(`volume: unusable after a device failure (${this.failure.message})`);
  }
}

/**
 * Formats a volume on `dev` (overwriting it) under the 32-byte `volumeKey` and returns it opened at
 * generation 1. Only the superblocks and the metadata tree are written: never-written blocks read as
 * zeros, so a sparse host file stays sparse.
 */
export function formatVolume(
  dev: BlockDevice,
  volumeKey: Uint8Array,
  opts: FormatVolumeOptions = {},
): VolumeDevice {
  const io = new UnitIo(dev);
  if (!io.writable) throw new BlockDeviceError('volume: cannot format a read-only device');
  const logicalBlocks = opts.logicalBlocks ?? Geometry.maxBlocksFor(io.units);
  if (logicalBlocks < 1) throw new FormatError(`volume: device of ${io.units} 4 KiB units is too small`);
  const geo = new Geometry(logicalBlocks);
  if (geo.totalUnits > io.units)
    throw new FormatError(
      `volume: ${logicalBlocks} blocks need ${geo.totalUnits} units of 4 KiB, the device has ${io.units}`,
    );
  const uuid = opts.uuid ?? randomBytes(16);
  if (uuid.length !== 16) throw new FormatError('volume: UUID must be 16 bytes');
  io.write(0, new Uint8Array(UNIT));
  io.write(1, new Uint8Array(UNIT));
  const vol = new VolumeDevice({
    io,
    geo,
    keys: deriveVolumeKeys(volumeKey, uuid),
    uuid: uuid.slice(),
    tree: MetaTree.empty(geo),
    root: { slot: 0, hash: new Uint8Array(32) },
    generation: 0,
    versionLimit: 1,
    sbSlot: 1,
    readOnly: false,
  });
  // Every node is dirty: this first commit writes the whole tree and superblock A.
  vol.flush();
  return vol;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Picks the newest superblock copy that the key authenticates; a wrong key is told apart. */
function chooseSuperblock(
  io: UnitIo,
  volumeKey: Uint8Array,
): { sb: RawSuperblock; slot: number; otherDamaged: boolean } {
  const found: { sb: RawSuperblock; slot: number }[] = [];
  let malformed: FormatError | undefined;
  for (const slot of [0, 1]) {
    // One malformed copy (bit rot, a torn write) must not keep the other from opening.
    try {
      const sb = parseSuperblock(io.read(slot));
      if (sb) found.push({ sb, slot });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      malformed ??= e;
    }
  }
  if (found.length === 0)
    throw malformed ?? new FormatError('volume: not a Cloister volume (no superblock magic)');
  let keyMatched = false;
  let best: { sb: RawSuperblock; slot: number } | undefined;
  for (const c of found) {
    const keys = deriveVolumeKeys(volumeKey, c.sb.uuid);
    if (!keyCheckMatches(c.sb, keys.check)) continue;
    keyMatched = true;
    if (!superblockMacValid(c.sb, keys.superblock)) continue;
    if (!best || c.sb.generation > best.sb.generation) best = c;
  }
  if (!keyMatched)
    throw new WrongKeyError('volume: wrong volume key (the superblock key check does not match)');
  if (!best) throw new IntegrityError('volume: no superblock copy passes its MAC (tampered or damaged)');
  // The other copy should be an authentic older commit; anything else means it was damaged.
  const other = found.find((c) => c !== best);
  const otherDamaged =
    other === undefined ||
    !superblockMacValid(other.sb, deriveVolumeKeys(volumeKey, other.sb.uuid).superblock) ||
    other.sb.generation > best.sb.generation;
  return { ...best, otherDamaged };
}

/**
 * Opens a volume on `dev` with the 32-byte `volumeKey`: the newest authentic superblock copy, then
 * the whole metadata tree, verified against its root. Throws `WrongKeyError` for a wrong key,
 * `RollbackError` below `minGeneration`, `IntegrityError` for tampering, `FormatError` for a device
 * that is not a volume or is truncated.
 */
export function openVolume(
  dev: BlockDevice,
  volumeKey: Uint8Array,
  opts: OpenVolumeOptions = {},
): VolumeDevice {
  const io = new UnitIo(dev);
  if (io.units < 2) throw new FormatError('volume: device is too small for the superblocks');
  const { sb, slot, otherDamaged } = chooseSuperblock(io, volumeKey);
  if (opts.expectedUuid && !sameBytes(opts.expectedUuid, sb.uuid))
    throw new IntegrityError('volume: UUID differs from the expected one (another volume?)');
  if (opts.minGeneration !== undefined && sb.generation < opts.minGeneration)
    throw new RollbackError(
      `volume: generation ${sb.generation} on disk is older than generation ${opts.minGeneration}, the last one recorded: ` +
        (otherDamaged
          ? 'the newest superblock copy is damaged, and the record does not agree that the older one is current'
          : 'the volume was rolled back (an older copy of its file?)'),
      sb.generation,
      opts.minGeneration,
    );
  const geo = new Geometry(sb.logicalBlocks);
  if (sb.levels !== geo.levels) throw new FormatError('volume: superblock tree depth is inconsistent');
  if (geo.totalUnits > io.units)
    throw new FormatError(
      `volume: device is truncated: the volume needs ${geo.totalUnits} units of 4 KiB, the device has ${io.units}`,
    );
  const root = { slot: sb.rootSlot, hash: sb.rootHash };
  const tree = MetaTree.load(geo, (unit) => io.read(unit), root);
  return new VolumeDevice({
    io,
    geo,
    keys: deriveVolumeKeys(volumeKey, sb.uuid),
    uuid: sb.uuid,
    tree,
    root,
    generation: sb.generation,
    versionLimit: sb.versionLimit,
    sbSlot: slot,
    readOnly: opts.readOnly === true || !io.writable,
  });
}
