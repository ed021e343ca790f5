/**
 * Block devices: the image files of a run's disks, opened once, read and written at byte offsets.
 * Their contents are the enclave's business (it verifies and decrypts them).
 */
import * as fs from 'node:fs';
import type { Calls } from '../../interface/calls.ts';
import { preadFully, pwriteFully } from './file-io.ts';
import { failure, type AreaHandlers } from './serve.ts';

export interface BlockDeviceFile {
  path: string;
  writable: boolean;
}

export function blockHandlers(devices: readonly BlockDeviceFile[]): AreaHandlers<typeof Calls, 'block'> {
  const fds = devices.map((d) => fs.openSync(d.path, d.writable ? 'r+' : 'r'));
  const fdOf = (device: number): number => {
    const fd = fds[device];
    if (fd === undefined) throw failure('EINVAL', 'bad device');
    return fd;
  };
  return {
    blockRead: ({ device, offset, length }, out) =>
      preadFully(fdOf(device), out, Math.min(length, out.length), offset),
    blockWrite: ({ device, offset, sync, data }) => {
      const fd = fdOf(device);
      const written = data.length > 0 ? pwriteFully(fd, data, offset) : 0;
      // The images have a fixed size: fdatasync makes their data durable without also committing
      // the file's timestamps (a journal commit of its own on ext4), half a volume commit's cost.
      if (sync) fs.fdatasyncSync(fd);
      return written;
    },
    blockInfo: ({ device }) => BigInt(fs.fstatSync(fdOf(device)).size),
  };
}
