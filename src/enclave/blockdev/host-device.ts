/**
 * The raw block device: an image file on the host, reached through the block host calls. Its
 * contents are untrusted (the layers above verify and decrypt); this layer only checks that each
 * reply has exactly the length asked for. Reads and writes are split into slot-sized requests that
 * go to the host together, as are the pieces of a vectored transfer (`readIntoMany`, `writeMany`),
 * so a read-ahead of many blocks, or a data block with the hash blocks that check it, costs one
 * wait, not one per request; each reply is copied from the ring once, into the caller's buffer.
 */
import { Calls } from '../../interface/calls.ts';
import { SLOT_DATA_BYTES } from '../../interface/ring.ts';
import type { HostChannel } from '../ring/channel.ts';
import { hostCall, hostCallMany, startHostCallMany } from '../ring/stubs.ts';
import { checkTransfer } from '../../common/blockdev/io.ts';
import { BlockDeviceError, type BlockDevice, type BlockTransfer } from '../../common/blockdev/types.ts';

export class HostBlockDevice implements BlockDevice {
  readonly blockCount: number;

  /**
   * @param device index of the image in the host's block-device list
   * @param writable whether this enclave may write (the host opened it accordingly)
   */
  constructor(
    private readonly channel: HostChannel,
    private readonly device: number,
    readonly blockSize = 4096,
    private readonly writable = false,
  ) {
    const size = hostCall(channel, Calls.blockInfo, { device });
    if (size < 0n || size > BigInt(Number.MAX_SAFE_INTEGER))
      throw new BlockDeviceError(`device ${device}: size ${size}`);
    this.blockCount = Math.floor(Number(size) / blockSize);
  }

  readInto(block: number, dst: Uint8Array): void {
    this.readIntoMany([{ block, data: dst }]);
  }

  /**
   * One request per slot's worth of each transfer, all sent before the first is awaited; each reply
   * is copied once, from the slot straight into its place, and must have exactly the length asked for.
   */
  readIntoMany(transfers: readonly BlockTransfer[]): void {
    const { reads, into } = this.requests(transfers);
    this.check(reads, into, hostCallMany(this.channel, Calls.blockRead, reads, { into }));
  }

  startReadInto(block: number, dst: Uint8Array): () => void {
    return this.startReadIntoMany([{ block, data: dst }]);
  }

  /** As `readIntoMany`, but returns once the requests are sent; the function returned waits and checks. */
  startReadIntoMany(transfers: readonly BlockTransfer[]): () => void {
    const { reads, into } = this.requests(transfers);
    const finish = startHostCallMany(this.channel, Calls.blockRead, reads, { into });
    return () => this.check(reads, into, finish());
  }

  /** The slot-sized `block_read` requests of `transfers`, and where each reply goes. */
  private requests(transfers: readonly BlockTransfer[]) {
    const reads: { device: number; offset: bigint; length: number }[] = [];
    const into: Uint8Array[] = [];
    for (const { block, data } of transfers) {
      checkTransfer(this, block, data);
      for (let done = 0; done < data.length; done += SLOT_DATA_BYTES) {
        const length = Math.min(SLOT_DATA_BYTES, data.length - done);
        reads.push({ device: this.device, offset: BigInt(block * this.blockSize + done), length });
        into.push(data.subarray(done, done + length));
      }
    }
    return { reads, into };
  }

  /** Each reply must have exactly the length asked for, and sit where it was asked to go. */
  private check(
    reads: readonly { length: number }[],
    into: readonly Uint8Array[],
    replies: readonly Uint8Array[],
  ): void {
    for (const [i, reply] of replies.entries()) {
      const want = reads[i].length;
      if (
        reply.length !== want ||
        reply.buffer !== into[i].buffer ||
        reply.byteOffset !== into[i].byteOffset
      ) {
        throw new BlockDeviceError(`device ${this.device}: host returned ${reply.length} of ${want} bytes`);
      }
    }
  }

  write(block: number, data: Uint8Array): void {
    this.writeMany([{ block, data }]);
  }

  writeMany(transfers: readonly BlockTransfer[]): void {
    if (!this.writable) throw new BlockDeviceError(`device ${this.device} is read-only`);
    const writes: { device: number; offset: bigint; sync: boolean; data: Uint8Array }[] = [];
    for (const { block, data } of transfers) {
      checkTransfer(this, block, data);
      for (let done = 0; done < data.length; done += SLOT_DATA_BYTES) {
        const chunk = data.subarray(done, done + SLOT_DATA_BYTES);
        writes.push({
          device: this.device,
          offset: BigInt(block * this.blockSize + done),
          sync: false,
          data: chunk,
        });
      }
    }
    for (const [i, written] of hostCallMany(this.channel, Calls.blockWrite, writes).entries()) {
      const want = writes[i].data.length;
      if (written !== want)
        throw new BlockDeviceError(`device ${this.device}: host wrote ${written} of ${want} bytes`);
    }
  }

  flush(): void {
    // An empty write that makes every earlier one durable.
    hostCall(this.channel, Calls.blockWrite, {
      device: this.device,
      offset: 0n,
      sync: true,
      data: new Uint8Array(0),
    });
  }
}
