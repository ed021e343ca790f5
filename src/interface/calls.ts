/**
 * The complete host interface: every call an enclave can make to the untrusted host, each with
 * its argument and reply codecs and the errnos it may answer. Both ends are typed from this one
 * table: the host serves it with a record of handlers keyed by call name (`src/host/calls/`: a
 * missing handler does not compile), the enclave calls it through stubs made from the same
 * entries (`src/enclave/ring/stubs.ts`). `docs/host-interface.md` and `cloister run --trace-host`
 * are generated from it.
 *
 * Each call is classed as in the seed talk's table for SGX-LKL: a workload-independent call's
 * arguments and timing say nothing about the data the program works on; a workload-dependent
 * call may (sizes, offsets, access patterns, file names). `errnos` is the allow-list of error
 * values the enclave accepts in a reply: anything else becomes EIO, as Gramine does with ocalls.
 */
import {
  args,
  bytes,
  bytesReply,
  copiedReply,
  countReply,
  flag,
  handleReply,
  i64,
  noReply,
  scalarReply,
  statReply,
  text,
  timeOrKeep,
  u32,
  type ArgCodec,
  type ReplyCodec,
} from './call-codecs.ts';
import { WireError, decodeDirEntries, decodeNamePair, encodeDirEntries, encodeNamePair } from './codec.ts';
import { Errno } from './errno.ts';
import {
  DATAGRAM_BATCH_BYTES,
  MAX_BATCH,
  decodeDatagrams,
  encodeDatagrams,
  entrySize,
  type OuterDatagram,
} from './net-datagrams.ts';
import { QeOp, TARGET_INFO_SIZE } from './platform.ts';
import { SLOT_DATA_BYTES } from './ring.ts';
import { FileType, type HostDirEntry, type HostDirId, type HostLookup, type HostStat } from './services.ts';

export type CallClass = 'workload-independent' | 'workload-dependent';

/**
 * What a call is for. `process`, `clock`, `console`, `block` and `attestation` make the shielded
 * path, the calls every run may make (`SHIELDED_AREAS`); the others stay apart from it: `host-dir`
 * serves `--dir` mounts (untrusted storage), `network` relays the runtime's own traffic (its key
 * broker requests, the WireGuard datagrams of `--net`), `js-app` carries a JavaScript enclave's
 * calls to its host application.
 */
export type CallArea =
  'process' | 'clock' | 'console' | 'block' | 'attestation' | 'network' | 'host-dir' | 'js-app';

export const SHIELDED_AREAS: readonly CallArea[] = ['process', 'clock', 'console', 'block', 'attestation'];

/** A call as the ring sees it: its wire id and what the enclave checks in any reply. */
export interface CallSpec {
  readonly id: number;
  readonly name: string;
  readonly class: CallClass;
  readonly area: CallArea;
  /** Error values the host may return besides SUCCESS. */
  readonly errnos: readonly number[];
  /** True when the enclave does not wait for the reply (it is checked later, in order). */
  readonly posted?: boolean;
  readonly doc: string;
}

/**
 * A call with its codecs: the enclave's stub takes `A` and returns `R`; the host's handler takes
 * `A` and returns `H` (see `ReplyCodec`).
 */
export interface CallDef<A, H, R> extends CallSpec {
  readonly args: ArgCodec<A>;
  readonly reply: ReplyCodec<A, H, R>;
}

// `any` only to match every entry: each entry keeps its exact types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCallDef = CallDef<any, any, any>;
export type ArgsOf<D> = D extends CallDef<infer A, infer _H, infer _R> ? A : never;
export type HostReplyOf<D> = D extends CallDef<infer _A, infer H, infer _R> ? H : never;
export type ReplyOf<D> = D extends CallDef<infer _A, infer _H, infer R> ? R : never;

/**
 * An entry: its argument type comes from `args` alone, and the reply codec must accept it. The
 * area stays a literal type, so the host's handlers can be grouped by area (`AreaHandlers`).
 */
function call<A, H, R, Area extends CallArea>(
  def: CallSpec & {
    readonly area: Area;
    readonly args: ArgCodec<A>;
    readonly reply: ReplyCodec<NoInfer<A>, H, R>;
  },
): CallDef<A, H, R> & { readonly area: Area } {
  return def;
}

const I: CallClass = 'workload-independent';
const D: CallClass = 'workload-dependent';

const fsErrors = [
  Errno.ACCES,
  Errno.PERM,
  Errno.NOENT,
  Errno.EXIST,
  Errno.NOTDIR,
  Errno.ISDIR,
  Errno.NOTEMPTY,
  Errno.NOSPC,
  Errno.DQUOT,
  Errno.ROFS,
  Errno.NAMETOOLONG,
  Errno.LOOP,
  Errno.IO,
  Errno.BUSY,
  Errno.XDEV,
  Errno.MLINK,
  Errno.FBIG,
  Errno.INVAL,
  Errno.NOTSUP,
  Errno.BADF,
];

/** Longest symlink target the enclave reads. */
const MAX_LINK_BYTES = 4096;
/** Largest quote the enclave accepts. */
const MAX_QUOTE_BYTES = 32 * 1024;

const dirAndName = args({ dir: u32 }, 'name', text);
const twoEntries: ArgCodec<{ fromDir: number; from: string; toDir: number; to: string }> = {
  encode: (a) => ({ args: [BigInt(a.fromDir), BigInt(a.toDir)], payload: encodeNamePair(a.from, a.to) }),
  decode: (raw, payload) => {
    const [from, to] = decodeNamePair(payload);
    return { fromDir: u32.decode(raw[0]), from, toDir: u32.decode(raw[1]), to };
  },
};

/** What `dir_lookup` finds: the stat, and a handle when it opened a directory. */
export interface LookupFound {
  stat: HostStat;
  dir: number | null;
}

const lookupReply: ReplyCodec<{ held: HostDirId | null }, LookupFound, HostLookup> = {
  limit: () => statReply.limit(undefined),
  encode: (found, out) => ({ ...statReply.encode(found.stat, out), result: BigInt(found.dir ?? 0) }),
  decode: (result, data, a) => {
    const stat = statReply.decode(result, data, a);
    // A handle comes with a directory and only with one; only the held directory comes without.
    if (stat.filetype !== FileType.DIRECTORY || result === 0n) {
      const isHeld = a.held !== null && stat.dev === a.held.dev && stat.ino === a.held.ino;
      if (result !== 0n || (stat.filetype === FileType.DIRECTORY && !isHeld)) {
        throw new WireError('directory handle does not match the entry');
      }
      return { stat, dir: null };
    }
    return { stat, dir: handleReply.decode(result, data, a) };
  },
};

/** A page of a directory listing; `end` when it reaches the last entry. */
export interface Listing {
  entries: HostDirEntry[];
  end: boolean;
}

const listingReply: ReplyCodec<{ max: number }, Listing, Listing> = {
  limit: () => SLOT_DATA_BYTES,
  encode: (listing, out) => {
    const [length, count] = encodeDirEntries(listing.entries, out);
    // Entries that did not fit are asked for again from the next index.
    const end = listing.end && count === listing.entries.length;
    return { length, result: end ? 1n : 0n };
  },
  decode: (result, data, a) => {
    if (result !== 0n && result !== 1n) throw new WireError('bad end flag');
    const entries = decodeDirEntries(data);
    if (entries.length > a.max) throw new WireError('more entries than asked for');
    return { entries, end: result === 1n };
  },
};

const linkTargetReply: ReplyCodec<unknown, Uint8Array, string> = {
  limit: () => MAX_LINK_BYTES,
  encode: copiedReply(() => MAX_LINK_BYTES).encode,
  decode: (_result, data) => {
    const target = text.decode(data);
    if (target.includes('\0')) throw new WireError('symlink target with NUL');
    return target;
  },
};

/** What `stdin_read` finds: whether stdin is readable (or at end of file), and the bytes read. */
export interface StdinRead {
  ready: boolean;
  data: Uint8Array;
}

const stdinReply: ReplyCodec<{ max: number }, { ready: boolean; length: number }, StdinRead> = {
  limit: (a) => a.max,
  encode: (r, out) => ({ ...bytesReply(() => 0).encode(r.length, out), result: r.ready ? 1n : 0n }),
  decode: (result, data) => {
    const ready = flag.decode(result);
    if (!ready && data.length > 0) throw new WireError('bytes from a stdin that is not readable');
    return { ready, data };
  },
};

/** A batch of outgoing datagrams: arg0 their count, the payload their entries (net-datagrams.ts). */
const datagramBatch: ArgCodec<{ datagrams: readonly OuterDatagram[] }> = {
  encode: (a) => {
    const payload = new Uint8Array(a.datagrams.reduce((n, d) => n + entrySize(d), 0));
    encodeDatagrams(a.datagrams, payload);
    return { args: [BigInt(a.datagrams.length)], payload };
  },
  decode: (raw, payload) => ({ datagrams: decodeDatagrams(payload, u32.decode(raw[0])) }),
};

/** How many of the batch went out: never more than were in it. */
const sentReply: ReplyCodec<{ datagrams: readonly OuterDatagram[] }, number, number> = {
  limit: () => 0,
  encode: countReply.encode,
  decode: (result, _data, a) => {
    if (result < 0n || result > BigInt(a.datagrams.length)) throw new WireError(`${result} datagrams sent`);
    return Number(result);
  },
};

/**
 * The datagrams received: the host writes the batch into the slot (`length` bytes, `count`
 * entries); the enclave takes it only when every entry adds up and there are no more than it asked.
 */
const receivedReply: ReplyCodec<{ max: number }, { count: number; length: number }, OuterDatagram[]> = {
  limit: () => DATAGRAM_BATCH_BYTES,
  encode: (r) => ({ result: BigInt(r.count), length: r.length }),
  decode: (result, data, a) => {
    const max = Math.min(a.max, MAX_BATCH);
    if (result < 0n || result > BigInt(max)) throw new WireError(`${result} datagrams (at most ${max})`);
    return decodeDatagrams(data, Number(result), max);
  },
};

/** The call table of the WASI enclave, by name. Ids are the wire values; never reuse one. */
export const Calls = {
  exit: call({
    id: 1,
    name: 'exit',
    class: I,
    area: 'process',
    errnos: [],
    doc: 'The program ended with this status; the host tears the enclave down.',
    args: args({ status: u32, kind: u32 }, 'message', text),
    reply: noReply,
  }),
  clockSync: call({
    id: 2,
    name: 'clock_sync',
    class: I,
    area: 'clock',
    errnos: [],
    doc: "Refresh the host page: word 0 the host's wall-clock offset from the enclave's monotonic time arg0, word 1 bit N set when host fd N (0, 1, 2) is a terminal.",
    args: args({ monotonicNs: i64 }),
    reply: noReply,
  }),
  consoleWrite: call({
    id: 3,
    name: 'console_write',
    class: D,
    area: 'console',
    errnos: [Errno.IO, Errno.PIPE],
    posted: true,
    doc: 'Bytes for stdout (arg0=1) or stderr (arg0=2). PIPE: the reader closed it; later writes fail in the enclave.',
    args: args({ fd: u32 }, 'data', bytes),
    reply: noReply,
  }),
  stdinRead: call({
    id: 4,
    name: 'stdin_read',
    class: D,
    area: 'console',
    errnos: [Errno.IO],
    doc: 'Wait up to arg1 ns (-1: without limit) for stdin to be readable (result 1), then read up to arg0 bytes of it; an empty reply when readable is end of file.',
    args: args({ max: u32, timeoutNs: i64 }),
    reply: stdinReply,
  }),
  blockRead: call({
    id: 10,
    name: 'block_read',
    class: D,
    area: 'block',
    errnos: [Errno.IO, Errno.INVAL],
    doc: 'Read arg2 bytes at byte offset arg1 of block device arg0.',
    args: args({ device: u32, offset: i64, length: u32 }),
    reply: bytesReply((a: { length: number }) => a.length),
  }),
  blockWrite: call({
    id: 11,
    name: 'block_write',
    class: D,
    area: 'block',
    errnos: [Errno.IO, Errno.INVAL, Errno.NOSPC],
    doc: 'Write the payload at byte offset arg1 of device arg0; arg2 = 1: then make every write to it durable (an empty write with it is a flush). Result: the count written.',
    args: args({ device: u32, offset: i64, sync: flag }, 'data', bytes),
    reply: countReply,
  }),
  blockInfo: call({
    id: 13,
    name: 'block_info',
    class: I,
    area: 'block',
    errnos: [Errno.INVAL],
    doc: 'Size in bytes of block device arg0.',
    args: args({ device: u32 }),
    reply: scalarReply,
  }),
  quote: call({
    id: 41,
    name: 'quote',
    class: D,
    area: 'attestation',
    errnos: [Errno.IO, Errno.INVAL],
    doc: `From the quoting enclave, relayed by the host: its TARGETINFO (arg0 = ${QeOp.TARGET_INFO}), or a DCAP quote for the REPORT in the payload (arg0 = ${QeOp.QUOTE}).`,
    args: args({ op: u32 }, 'report', bytes),
    reply: copiedReply((a: { op: number }) =>
      a.op === QeOp.TARGET_INFO ? TARGET_INFO_SIZE : MAX_QUOTE_BYTES,
    ),
  }),
  netFetch: call({
    id: 42,
    name: 'net_fetch',
    class: D,
    area: 'network',
    errnos: [Errno.IO, Errno.INVAL],
    doc: 'An HTTP request of the runtime to its key broker (JSON), relayed by the host.',
    args: args({}, 'request', bytes),
    reply: copiedReply(() => SLOT_DATA_BYTES),
  }),
  netSendBatch: call({
    id: 43,
    name: 'net_send_batch',
    class: D,
    area: 'network',
    errnos: [Errno.IO, Errno.INVAL],
    doc: 'Send the datagrams of the payload (arg0 of them; net-datagrams.ts: outer address, port, WireGuard message) from the host UDP socket; result: how many went out.',
    args: datagramBatch,
    reply: sentReply,
  }),
  netRecvBatch: call({
    id: 44,
    name: 'net_recv_batch',
    class: D,
    area: 'network',
    errnos: [Errno.IO],
    doc: 'Datagrams the host UDP socket received, at most arg1 of them, waiting up to arg0 ns for the first; result: their count.',
    args: args({ waitNs: i64, max: u32 }),
    reply: receivedReply,
  }),
  fileClose: call({
    id: 22,
    name: 'file_close',
    class: I,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO],
    doc: 'Close host handle arg0.',
    args: args({ handle: u32 }),
    reply: noReply,
  }),
  filePread: call({
    id: 23,
    name: 'file_pread',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO, Errno.ISDIR, Errno.INVAL],
    doc: 'Read arg2 bytes at arg1.',
    args: args({ handle: u32, offset: i64, length: u32 }),
    reply: bytesReply((a: { length: number }) => a.length),
  }),
  filePwrite: call({
    id: 24,
    name: 'file_pwrite',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO, Errno.NOSPC, Errno.DQUOT, Errno.FBIG, Errno.INVAL],
    doc: 'Write the payload at arg1.',
    args: args({ handle: u32, offset: i64 }, 'data', bytes),
    reply: countReply,
  }),
  fileFstat: call({
    id: 25,
    name: 'file_fstat',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO],
    doc: 'fstat of handle arg0.',
    args: args({ handle: u32 }),
    reply: statReply,
  }),
  fileTruncate: call({
    id: 26,
    name: 'file_truncate',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO, Errno.NOSPC, Errno.FBIG, Errno.INVAL],
    doc: 'Set the size of handle arg0 to arg1.',
    args: args({ handle: u32, size: i64 }),
    reply: noReply,
  }),
  fileSync: call({
    id: 27,
    name: 'file_sync',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO, Errno.NOSPC],
    doc: 'fsync (arg1 = 0) or fdatasync (arg1 = 1).',
    args: args({ handle: u32, dataOnly: flag }),
    reply: noReply,
  }),
  fileUtimes: call({
    id: 28,
    name: 'file_utimes',
    class: D,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO, Errno.PERM, Errno.ACCES],
    doc: 'Set times of handle arg0.',
    args: args({ handle: u32, atimNs: timeOrKeep, mtimNs: timeOrKeep }),
    reply: noReply,
  }),
  dirRoot: call({
    id: 50,
    name: 'dir_root',
    class: I,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Open the root directory of mount arg0; result is a directory handle.',
    args: args({ mount: u32 }),
    reply: handleReply,
  }),
  dirLookup: call({
    id: 51,
    name: 'dir_lookup',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'lstat of entry (payload) of directory handle arg0; a directory is opened too (result = its handle), unless arg1 = 1 and it is the directory with device arg2 and inode arg3 (result 0).',
    args: {
      encode: (a: { dir: number; name: string; held: HostDirId | null }) => ({
        args: [BigInt(a.dir), ...(a.held ? [1n, a.held.dev, a.held.ino] : [0n, 0n, 0n])],
        payload: text.encode(a.name),
      }),
      decode: (raw, payload) => ({
        dir: u32.decode(raw[0]),
        name: text.decode(payload),
        held: raw[1] === 1n ? { dev: BigInt.asUintN(64, raw[2]), ino: BigInt.asUintN(64, raw[3]) } : null,
      }),
    },
    reply: lookupReply,
  }),
  dirClose: call({
    id: 52,
    name: 'dir_close',
    class: I,
    area: 'host-dir',
    errnos: [Errno.BADF, Errno.IO],
    posted: true,
    doc: 'Close directory handle arg0 (the enclave no longer uses it: not waited for).',
    args: args({ dir: u32 }),
    reply: noReply,
  }),
  dirStat: call({
    id: 53,
    name: 'dir_stat',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'fstat of directory handle arg0.',
    args: args({ dir: u32 }),
    reply: statReply,
  }),
  dirSetTimes: call({
    id: 54,
    name: 'dir_set_times',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Set times (arg1, arg2) of directory handle arg0.',
    args: args({ dir: u32, atimNs: timeOrKeep, mtimNs: timeOrKeep }),
    reply: noReply,
  }),
  dirOpen: call({
    id: 55,
    name: 'dir_open',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Open regular file (payload) of directory handle arg0, never through a symlink (arg1 = open flags); result is a file handle.',
    args: args({ dir: u32, flags: u32 }, 'name', text),
    reply: handleReply,
  }),
  dirReaddir: call({
    id: 56,
    name: 'dir_readdir',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Entries of directory handle arg0 from index arg1, at most arg2; result 1 when the last one is in.',
    args: args({ dir: u32, start: u32, max: u32 }),
    reply: listingReply,
  }),
  dirMkdir: call({
    id: 57,
    name: 'dir_mkdir',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'mkdir of entry (payload) in directory handle arg0.',
    args: dirAndName,
    reply: noReply,
  }),
  dirRmdir: call({
    id: 58,
    name: 'dir_rmdir',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'rmdir of entry (payload) in directory handle arg0.',
    args: dirAndName,
    reply: noReply,
  }),
  dirUnlink: call({
    id: 59,
    name: 'dir_unlink',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'unlink of entry (payload) in directory handle arg0.',
    args: dirAndName,
    reply: noReply,
  }),
  dirRename: call({
    id: 60,
    name: 'dir_rename',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Rename entry of directory handle arg0 to entry of directory handle arg1 (payload: the two names).',
    args: twoEntries,
    reply: noReply,
  }),
  dirLink: call({
    id: 61,
    name: 'dir_link',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Hard link entry of directory handle arg0 as entry of directory handle arg1 (payload: the two names).',
    args: twoEntries,
    reply: noReply,
  }),
  dirSymlink: call({
    id: 62,
    name: 'dir_symlink',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Create a symlink in directory handle arg0 (payload: target, name).',
    args: {
      encode: (a: { target: string; dir: number; name: string }) => ({
        args: [BigInt(a.dir)],
        payload: encodeNamePair(a.target, a.name),
      }),
      decode: (raw, payload) => {
        const [target, name] = decodeNamePair(payload);
        return { target, dir: u32.decode(raw[0]), name };
      },
    },
    reply: noReply,
  }),
  dirReadlink: call({
    id: 63,
    name: 'dir_readlink',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Target of symlink (payload) in directory handle arg0.',
    args: dirAndName,
    reply: linkTargetReply,
  }),
  dirUtimes: call({
    id: 64,
    name: 'dir_utimes',
    class: D,
    area: 'host-dir',
    errnos: fsErrors,
    doc: 'Set times (arg1, arg2) of entry (payload, not followed) of directory handle arg0.',
    args: args({ dir: u32, atimNs: timeOrKeep, mtimNs: timeOrKeep }, 'name', text),
    reply: noReply,
  }),
} as const;

/**
 * A JavaScript enclave's calls to its host application (docs/js-enclave.md). A request is
 * `u16 name length || name || bytes`, a reply `u8 outcome (0 ok, 1 error) || bytes or UTF-8
 * message`; either may span several slots.
 */
export const JsAppCalls = {
  appCallPart: call({
    id: 80,
    name: 'app_call_part',
    class: D,
    area: 'js-app',
    errnos: [Errno.INVAL],
    doc: 'Part of a host-call request at byte offset arg0 (requests larger than a slot).',
    args: args({ offset: u32 }, 'part', bytes),
    reply: noReply,
  }),
  appCall: call({
    id: 81,
    name: 'app_call',
    class: D,
    area: 'js-app',
    errnos: [Errno.INVAL],
    doc: 'The last part of a host-call request of arg0 bytes; result is the reply length, data its first part.',
    args: args({ length: u32 }, 'part', bytes),
    reply: {
      limit: () => SLOT_DATA_BYTES,
      encode: (reply: Uint8Array, out) => ({
        ...copiedReply(() => 0).encode(reply, out),
        result: BigInt(reply.length),
      }),
      decode: (result, first) => ({ length: result, first }),
    },
  }),
  appReplyPart: call({
    id: 82,
    name: 'app_reply_part',
    class: D,
    area: 'js-app',
    errnos: [Errno.INVAL],
    doc: 'The part of the last host-call reply at byte offset arg0.',
    args: args({ offset: u32 }),
    reply: copiedReply(() => SLOT_DATA_BYTES),
  }),
} as const;

/** What a JavaScript enclave's ring serves: its app calls, and the WASI calls it shares. */
export const JsEnclaveCalls = {
  consoleWrite: Calls.consoleWrite,
  quote: Calls.quote,
  netFetch: Calls.netFetch,
  ...JsAppCalls,
} as const;

/** Every call of either enclave kind, indexed by wire id. */
export const callsById: ReadonlyMap<number, AnyCallDef> = new Map(
  [...Object.values(Calls), ...Object.values(JsAppCalls)].map((c: AnyCallDef) => [c.id, c]),
);
