// A host-call server thread for tests: serves the ring with a scripted handler and, in hostile
// modes, tampers with what it publishes, as a malicious host would.
import { parentPort, workerData } from 'node:worker_threads';
import { Calls } from '../../../src/interface/calls.ts';
import { encodeDirEntries, encodeStat } from '../../../src/interface/codec.ts';
import { Errno } from '../../../src/interface/errno.ts';
import { SlotField, viewRing, type SlotView } from '../../../src/interface/ring.ts';
import { RingServer, writeReply, type Request, type Response } from '../../../src/host/ring-server.ts';

export type HostileMode =
  | 'honest'
  | 'reply-too-long'
  | 'garbage-errno'
  | 'wrong-request'
  | 'negative-length'
  | 'bad-stat'
  | 'bad-dir-entry'
  | 'huge-handle'
  | 'short-write'
  | 'wrong-request-then-silent'
  | 'slow';

const { ring: buffer, mode } = workerData as { ring: SharedArrayBuffer; mode: HostileMode };
const ring = viewRing(buffer);
const server: RingServer = new RingServer(ring, handle, tamper);

function handle(req: Request): Response {
  switch (req.callId) {
    case Calls.exit.id:
      server.stop();
      return { errno: Errno.SUCCESS };
    case Calls.filePread.id: {
      const n = Math.min(Number(req.args[2]), req.replyLimit);
      for (let i = 0; i < n; i++) req.data[i] = (Number(req.args[1]) + i) & 0xff;
      return { errno: Errno.SUCCESS, replyLength: n };
    }
    case Calls.filePwrite.id:
      return {
        errno: Errno.SUCCESS,
        result: BigInt(mode === 'short-write' ? req.payload.length - 1 : req.payload.length),
      };
    case Calls.dirLstat.id: {
      const stat = { filetype: 4, dev: 1n, ino: 2n, nlink: 1n, size: 3n, atimNs: 0n, mtimNs: 0n, ctimNs: 0n };
      const length = encodeStat(stat, req.data);
      if (mode === 'bad-stat') req.data[0] = 99;
      return { errno: Errno.SUCCESS, replyLength: length };
    }
    case Calls.dirReaddir.id: {
      const names = mode === 'bad-dir-entry' ? ['ok', '../escape'] : ['a', 'b'];
      const [length] = encodeDirEntries(
        names.map((name, i) => ({ name, ino: BigInt(i + 10), filetype: 4 })),
        req.data,
      );
      return { errno: Errno.SUCCESS, replyLength: length, result: 1n };
    }
    case Calls.dirOpen.id:
      return { errno: Errno.SUCCESS, result: mode === 'huge-handle' ? 1n << 40n : 7n };
    case Calls.dirUnlink.id:
      // A slow host (a hung file system that recovers): answers after 3 s.
      if (mode === 'slow') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3_000);
      return { errno: Errno.NOENT };
    default:
      return { errno: Errno.SUCCESS };
  }
}

function tamper(slot: SlotView, req: Request, res: Response): void {
  writeReply(slot, req, res);
  if (req.callId === Calls.exit.id) return;
  const h = slot.header;
  if (mode === 'reply-too-long') h[SlotField.replyLength] = req.replyLimit + 1;
  if (mode === 'negative-length') h[SlotField.replyLength] = -5;
  if (mode === 'garbage-errno') h[SlotField.errno] = 12345;
  if (mode === 'wrong-request' || mode === 'wrong-request-then-silent') h[SlotField.replySeq] = req.seq + 1;
  // Breaks the protocol once, then never answers again.
  if (mode === 'wrong-request-then-silent') server.stop();
}

server.serve();
parentPort?.postMessage('stopped');
