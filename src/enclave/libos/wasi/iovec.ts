/** Decoding of `iovec` / `ciovec` arrays. */
import { Errno, WasiError } from '../../../interface/errno.ts';
import type { GuestMemory } from '../memory.ts';
import { IOVEC_SIZE } from './layout.ts';

/** The buffers an iovec array names, as views into guest memory; FAULT when one is out of bounds. */
export function iovecs(memory: GuestMemory, ptr: number, count: number): Uint8Array[] {
  const v = memory.view();
  const bytes = memory.bytes();
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const buf = v.getUint32(ptr + i * IOVEC_SIZE, true);
    const len = v.getUint32(ptr + i * IOVEC_SIZE + 4, true);
    if (buf + len > bytes.length) throw new WasiError(Errno.FAULT);
    out.push(bytes.subarray(buf, buf + len));
  }
  return out;
}
