/**
 * Entry point of the host-call server thread (dist/host-server.cjs): serves one enclave's ring
 * from the launcher's go-ahead until the enclave makes its `exit` call, then reports how it ended
 * to the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { viewRing } from '../interface/ring.ts';
import { createHostCalls, type BlockDeviceFile } from './host-calls.ts';
import { writeExitRecord } from './exit-record.ts';
import { replyWriterFor } from './fault-injection.ts';
import { RingServer } from './ring-server.ts';
import { StdinReader } from './stdin-bridge.ts';
import { TraceCounters } from './trace.ts';

export interface ServerStart {
  ring: SharedArrayBuffer;
  /** Lanes of the ring after lane 0, one per enclave thread (ring.ts). */
  threadLanes: number;
  stdinMailbox: SharedArrayBuffer;
  trace: SharedArrayBuffer;
  exitRecord: SharedArrayBuffer;
  qeMailbox: SharedArrayBuffer;
  netMailbox: SharedArrayBuffer;
  datagramMailbox?: SharedArrayBuffer;
  mounts: string[];
  blockDevices: BlockDeviceFile[];
}

const start = workerData as ServerStart;
const port = parentPort;
if (!port) throw new Error('host-server must run in a worker thread');
const ring = viewRing(start.ring, start.threadLanes);
const counters = new TraceCounters(start.trace);
let server: RingServer | undefined = undefined;
const handle = createHostCalls({
  mounts: start.mounts,
  blockDevices: start.blockDevices,
  clockPage: ring.clock,
  qeMailbox: start.qeMailbox,
  netMailbox: start.netMailbox,
  datagramMailbox: start.datagramMailbox,
  stdin: new StdinReader(start.stdinMailbox, () => port.postMessage({ type: 'stdin-want' })),
  onExit: (status, kind, message) => {
    server?.stop();
    writeExitRecord(start.exitRecord, { status, kind, message });
  },
});
server = new RingServer(
  ring,
  (request) => {
    counters.recordRequest(request.callId, request.payload.length);
    const began = performance.now();
    const response = handle(request);
    counters.recordReply(request.callId, response.replyLength ?? 0, performance.now() - began);
    return response;
  },
  replyWriterFor(process.env.CLOISTER_HOST_FAULT),
);
// Serving starts when the launcher says so, once the platform is open: a run that fails to start
// answers none of the program's requests.
port.once('message', () => server?.serve());
