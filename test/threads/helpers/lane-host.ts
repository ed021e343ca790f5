// A host-call server thread for the ring-lane tests: serves a ring with thread lanes; file_pread
// replies carry the request's offset so each caller can tell its reply; 'wrong-seq-on-threads'
// answers every thread-lane request with another sequence number, as a malicious host might.
import { workerData } from 'node:worker_threads';
import { Calls } from '../../../src/interface/calls.ts';
import { Errno } from '../../../src/interface/errno.ts';
import { SLOT_COUNT, SlotField, viewRing, type SlotView } from '../../../src/interface/ring.ts';
import { RingServer, writeReply, type Request, type Response } from '../../../src/host/ring-server.ts';

const {
  ring: buffer,
  lanes,
  mode,
} = workerData as {
  ring: SharedArrayBuffer;
  lanes: number;
  mode: 'honest' | 'wrong-seq-on-threads';
};
const ring = viewRing(buffer, lanes);

const server: RingServer = new RingServer(
  ring,
  (req: Request): Response => {
    if (req.callId === Calls.exit.id) {
      server.stop();
      return { errno: Errno.SUCCESS };
    }
    if (req.callId === Calls.filePread.id) {
      const n = Math.min(Number(req.args[2]), req.replyLimit);
      for (let i = 0; i < n; i++) req.data[i] = (Number(req.args[1]) + i) & 0xff;
      return { errno: Errno.SUCCESS, replyLength: n };
    }
    return { errno: Errno.NOSYS };
  },
  (slot: SlotView, request: Request, response: Response) => {
    writeReply(slot, request, response);
    if (mode === 'wrong-seq-on-threads' && ring.slots.indexOf(slot) >= SLOT_COUNT) {
      slot.header[SlotField.replySeq] = request.seq + 1;
    }
  },
);
server.serve();
