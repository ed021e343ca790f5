/**
 * Deliberate host misbehaviour for testing the enclave's defences from the outside:
 * `CLOISTER_HOST_FAULT=<call name>:<fault>` makes this (untrusted) host corrupt every reply to
 * that call, or never answer it. It lives on the host side, so it can only do what any malicious host can.
 */
import { readSync } from 'node:fs';
import { callsById } from '../interface/calls.ts';
import { SlotField, type SlotView } from '../interface/ring.ts';
import { writeReply, type ReplyWriter } from './ring-server.ts';

const faults = {
  /** An errno the call may not return. */
  errno: (slot: SlotView) => (slot.header[SlotField.errno] = 9999),
  /** A reply longer than the enclave asked for. */
  length: (slot: SlotView) => (slot.header[SlotField.replyLength] = slot.data.length + 1),
  /** The reply carries another request's sequence number. */
  'wrong-request': (slot: SlotView) => (slot.header[SlotField.replySeq] += 1),
  /** The host thread never answers: it blocks for good, as one stuck in the kernel would. */
  hang: () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0),
  /**
   * The host thread never answers, blocked in a system call no thread termination can interrupt:
   * a read of the process's stdin (left open with nothing written, as a test does).
   */
  'hang-in-kernel': () => readSync(0, Buffer.alloc(1)),
} as const;

/** The reply writer for a fault spec, or the honest one when there is none. */
export function replyWriterFor(spec: string | undefined): ReplyWriter {
  if (!spec) return writeReply;
  const [name, fault] = spec.split(':');
  const call = [...callsById.values()].find((c) => c.name === name);
  const corrupt = faults[fault as keyof typeof faults];
  if (!call || !corrupt)
    throw new Error(`CLOISTER_HOST_FAULT=${spec}: expected <call name>:${Object.keys(faults).join('|')}`);
  return (slot, request, response) => {
    writeReply(slot, request, response);
    if (request.callId === call.id) corrupt(slot);
  };
}
