/**
 * The host's answers to one enclave's ring, as the host-call server thread (server-worker.ts) or
 * the launcher's own thread (host-call-service.ts) serves them: every call of the call table,
 * counted for `--trace-host`, ending with the enclave's `exit` call.
 */
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

/** The go-ahead to the server thread: per lane, the requests the launcher's thread answered before. */
export interface ServeMessage {
  served?: number[];
}

/**
 * The ring server of a run. `wantStdin` asks the launcher for more of its stdin; `served` says
 * where a server taking over from another starts (RingServer.servedCounts).
 */
export function createRunServer(
  start: ServerStart,
  wantStdin: () => void,
  served?: readonly number[],
): RingServer {
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
    stdin: new StdinReader(start.stdinMailbox, wantStdin),
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
    served,
  );
  return server;
}
