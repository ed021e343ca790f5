/** `random_get`, from the enclave's own CSPRNG (web crypto), never from the host. */
import type { WasiContext } from '../context.ts';

/** `crypto.getRandomValues` fills at most 64 KiB per call. */
const CHUNK = 65536;
const scratch = new Uint8Array(CHUNK);

export function random_get(ctx: WasiContext, bufPtr: number, len: number): number {
  ctx.memory.slice(bufPtr, len);
  for (let done = 0; done < len; done += CHUNK) {
    const n = Math.min(CHUNK, len - done);
    // Fill a private buffer first: getRandomValues rejects views of shared memory.
    const chunk = scratch.subarray(0, n);
    crypto.getRandomValues(chunk);
    ctx.memory.bytes().set(chunk, bufPtr + done);
  }
  return 0;
}
