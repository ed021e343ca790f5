/**
 * Entry point of the host-call server thread (dist/host-server.cjs): serves one enclave's ring
 * from the launcher's go-ahead until the enclave makes its `exit` call, then reports how it ended
 * to the main thread. It may be started before the run is known (run-threads.ts): its first
 * message is the run's `ServerStart`, its second the go-ahead, with the requests per lane that
 * the launcher's thread already answered, if it served the ring until now (host-call-service.ts).
 */
import { parentPort } from 'node:worker_threads';
import { createRunServer, type ServeMessage, type ServerStart } from './run-server.ts';

const port = parentPort;
if (!port) throw new Error('host-server must run in a worker thread');
port.once('message', (start: ServerStart) => {
  // Serving starts when the launcher says so, once the platform is open: a run that fails to start
  // answers none of the program's requests.
  port.once('message', ({ served }: ServeMessage) => {
    createRunServer(start, () => port.postMessage({ type: 'stdin-want' }), served).serve();
  });
});
