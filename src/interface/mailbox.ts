/**
 * A one-slot synchronous request/reply channel over shared memory, for calls that are not host
 * calls: the sim platform's instructions (EREPORT, EGETKEY) from the enclave, and the host
 * server's requests to the quoting enclave. The caller blocks in `Atomics.wait`; the server runs
 * on an event loop and waits with `Atomics.waitAsync`. One request at a time per mailbox.
 */

const HEADER_INTS = 4;
const DATA_BYTES = 64 * 1024;
const State = { IDLE: 0, REQUEST: 1, REPLY: 2 } as const;
const Field = { state: 0, op: 1, length: 2, status: 3 } as const;

export interface MailboxReply {
  /** 0 for success; otherwise an error code of the server's. */
  status: number;
  data: Uint8Array;
}

export function createMailbox(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_INTS * 4 + DATA_BYTES);
}

/** Writes a request into the mailbox and wakes the server; returns the header to wait on. */
function sendRequest(mailbox: SharedArrayBuffer, op: number, data: Uint8Array): Int32Array {
  const header = new Int32Array(mailbox, 0, HEADER_INTS);
  const bytes = new Uint8Array(mailbox, HEADER_INTS * 4);
  if (data.length > DATA_BYTES) throw new RangeError('mailbox request too large');
  bytes.set(data);
  header[Field.op] = op;
  header[Field.length] = data.length;
  Atomics.store(header, Field.state, State.REQUEST);
  Atomics.notify(header, Field.state);
  return header;
}

/** Copies the reply out (a private copy) and frees the mailbox. */
function takeReply(mailbox: SharedArrayBuffer, header: Int32Array): MailboxReply {
  const length = header[Field.length];
  const status = header[Field.status];
  const reply = new Uint8Array(mailbox, HEADER_INTS * 4).slice(0, Math.max(0, Math.min(length, DATA_BYTES)));
  Atomics.store(header, Field.state, State.IDLE);
  return { status, data: reply };
}

/** Sends a request and blocks until the reply; the reply bytes are a private copy. */
export function mailboxCall(mailbox: SharedArrayBuffer, op: number, data: Uint8Array): MailboxReply {
  const header = sendRequest(mailbox, op, data);
  while (Atomics.load(header, Field.state) !== State.REPLY)
    Atomics.wait(header, Field.state, State.REQUEST, 1000);
  return takeReply(mailbox, header);
}

/**
 * `mailboxCall` for a caller on an event loop: waits with `Atomics.waitAsync`, so the thread keeps
 * serving other work (a host relaying a slow network request must not freeze its event loop).
 */
export async function mailboxCallAsync(
  mailbox: SharedArrayBuffer,
  op: number,
  data: Uint8Array,
): Promise<MailboxReply> {
  const header = sendRequest(mailbox, op, data);
  while (Atomics.load(header, Field.state) !== State.REPLY) {
    const waited = Atomics.waitAsync(header, Field.state, State.REQUEST, 1000);
    if (waited.async) await waited.value;
  }
  return takeReply(mailbox, header);
}

/** Serves requests until the returned function is called (which also wakes the waiting loop). */
export function serveMailbox(
  mailbox: SharedArrayBuffer,
  handle: (op: number, data: Uint8Array) => MailboxReply | Promise<MailboxReply>,
): () => void {
  const header = new Int32Array(mailbox, 0, HEADER_INTS);
  const bytes = new Uint8Array(mailbox, HEADER_INTS * 4);
  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      if (Atomics.load(header, Field.state) !== State.REQUEST) {
        const waited = Atomics.waitAsync(header, Field.state, Atomics.load(header, Field.state), 500);
        if (waited.async) await waited.value;
        continue;
      }
      const request = bytes.slice(0, Math.max(0, Math.min(header[Field.length], DATA_BYTES)));
      let reply: MailboxReply;
      try {
        reply = await handle(header[Field.op], request);
      } catch {
        reply = { status: -1, data: new Uint8Array(0) };
      }
      bytes.set(reply.data.subarray(0, DATA_BYTES));
      header[Field.length] = Math.min(reply.data.length, DATA_BYTES);
      header[Field.status] = reply.status;
      Atomics.store(header, Field.state, State.REPLY);
      Atomics.notify(header, Field.state);
    }
  };
  void loop();
  return () => {
    stopped = true;
    Atomics.notify(header, Field.state);
  };
}
