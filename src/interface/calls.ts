/**
 * The complete host interface: every call the enclave can make to the untrusted host.
 *
 * Each call is classed as in the seed talk's table for SGX-LKL: a workload-independent call's
 * arguments and timing say nothing about the data the program works on; a workload-dependent
 * call may (sizes, offsets, access patterns, file names). `errnos` is the allow-list of error
 * values the enclave accepts in a reply: anything else becomes EIO, as Gramine does with ocalls.
 * `cloister run --trace-host` and docs/host-interface.md are generated from this table.
 */
import { Errno } from './errno.ts';

export type CallClass = 'workload-independent' | 'workload-dependent';

export interface CallSpec {
  readonly id: number;
  readonly name: string;
  readonly class: CallClass;
  /** Error values the host may return besides SUCCESS. */
  readonly errnos: readonly number[];
  /** True when the enclave does not wait for the reply (it is checked later, in order). */
  readonly posted?: boolean;
  readonly doc: string;
}

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

function call(
  id: number,
  name: string,
  cls: CallClass,
  errnos: readonly number[],
  doc: string,
  posted = false,
): CallSpec {
  return { id, name, class: cls, errnos, doc, posted };
}

const I: CallClass = 'workload-independent';
const D: CallClass = 'workload-dependent';

/** The call table, by name. Ids are the wire values; never reuse one. */
export const Calls = {
  exit: call(1, 'exit', I, [], 'The program ended with this status; the host tears the enclave down.'),
  clockSync: call(
    2,
    'clock_sync',
    I,
    [],
    'Refresh the clock page: the host wall-clock offset from monotonic time.',
  ),
  consoleWrite: call(
    3,
    'console_write',
    D,
    [Errno.IO, Errno.PIPE],
    'Bytes for stdout (arg0=1) or stderr (arg0=2). PIPE: the reader closed it; later writes fail in the enclave.',
    true,
  ),
  consoleInfo: call(6, 'console_info', I, [], 'Result bit N set when host fd N (0, 1, 2) is a terminal.'),
  stdinRead: call(
    4,
    'stdin_read',
    D,
    [Errno.IO],
    'Up to arg0 bytes of stdin; an empty reply is end of file.',
  ),
  stdinPoll: call(5, 'stdin_poll', D, [Errno.IO], 'Result 1 when stdin is readable within arg0 ns.'),
  blockRead: call(
    10,
    'block_read',
    D,
    [Errno.IO, Errno.INVAL],
    'Read arg2 bytes at byte offset arg1 of block device arg0.',
  ),
  blockWrite: call(
    11,
    'block_write',
    D,
    [Errno.IO, Errno.INVAL, Errno.NOSPC],
    'Write the payload at byte offset arg1 of device arg0.',
  ),
  blockInfo: call(13, 'block_info', I, [Errno.INVAL], 'Size in bytes of block device arg0.'),
  blockFlush: call(12, 'block_flush', I, [Errno.IO], 'Make the writes to device arg0 durable.'),
  qeTargetInfo: call(
    40,
    'qe_target_info',
    I,
    [Errno.IO],
    "The quoting enclave's TARGETINFO (512 bytes), relayed by the host.",
  ),
  quote: call(
    41,
    'quote',
    D,
    [Errno.IO, Errno.INVAL],
    'A DCAP quote for the REPORT in the payload, from the quoting enclave.',
  ),
  netFetch: call(
    42,
    'net_fetch',
    D,
    [Errno.IO, Errno.INVAL],
    'An HTTP request of the runtime to its key broker (JSON), relayed by the host.',
  ),
  netSendBatch: call(
    43,
    'net_send_batch',
    D,
    [Errno.IO, Errno.INVAL],
    'Send the datagrams of the payload (net-datagrams.ts: outer address, port, WireGuard message) from the host UDP socket; result: how many went out.',
  ),
  netRecvBatch: call(
    44,
    'net_recv_batch',
    D,
    [Errno.IO],
    'Datagrams the host UDP socket received, at most arg1 of them, waiting up to arg0 ns for the first; result: their count.',
  ),
  fileClose: call(22, 'file_close', I, [Errno.BADF, Errno.IO], 'Close host handle arg0.'),
  filePread: call(
    23,
    'file_pread',
    D,
    [Errno.BADF, Errno.IO, Errno.ISDIR, Errno.INVAL],
    'Read arg2 bytes at arg1.',
  ),
  filePwrite: call(
    24,
    'file_pwrite',
    D,
    [Errno.BADF, Errno.IO, Errno.NOSPC, Errno.DQUOT, Errno.FBIG, Errno.INVAL],
    'Write the payload at arg1.',
  ),
  fileFstat: call(25, 'file_fstat', D, [Errno.BADF, Errno.IO], 'fstat of handle arg0.'),
  fileTruncate: call(
    26,
    'file_truncate',
    D,
    [Errno.BADF, Errno.IO, Errno.NOSPC, Errno.FBIG, Errno.INVAL],
    'Set the size of handle arg0 to arg1.',
  ),
  fileSync: call(
    27,
    'file_sync',
    D,
    [Errno.BADF, Errno.IO, Errno.NOSPC],
    'fsync (arg1 = 0) or fdatasync (arg1 = 1).',
  ),
  fileUtimes: call(
    28,
    'file_utimes',
    D,
    [Errno.BADF, Errno.IO, Errno.PERM, Errno.ACCES],
    'Set times of handle arg0.',
  ),
  dirRoot: call(
    50,
    'dir_root',
    I,
    fsErrors,
    'Open the root directory of mount arg0; result is a directory handle.',
  ),
  dirLookup: call(
    51,
    'dir_lookup',
    D,
    fsErrors,
    'lstat of entry (payload) of directory handle arg0; a directory is opened too (result = its handle), unless arg1 = 1 and it is the directory with device arg2 and inode arg3 (result 0).',
  ),
  dirClose: call(
    52,
    'dir_close',
    I,
    [Errno.BADF, Errno.IO],
    'Close directory handle arg0 (the enclave no longer uses it: not waited for).',
    true,
  ),
  dirStat: call(53, 'dir_stat', D, fsErrors, 'fstat of directory handle arg0.'),
  dirSetTimes: call(54, 'dir_set_times', D, fsErrors, 'Set times (arg1, arg2) of directory handle arg0.'),
  dirOpen: call(
    55,
    'dir_open',
    D,
    fsErrors,
    'Open regular file (payload) of directory handle arg0, never through a symlink (arg1 = open flags); result is a file handle.',
  ),
  dirReaddir: call(
    56,
    'dir_readdir',
    D,
    fsErrors,
    'Entries of directory handle arg0 from index arg1, at most arg2.',
  ),
  dirMkdir: call(57, 'dir_mkdir', D, fsErrors, 'mkdir of entry (payload) in directory handle arg0.'),
  dirRmdir: call(58, 'dir_rmdir', D, fsErrors, 'rmdir of entry (payload) in directory handle arg0.'),
  dirUnlink: call(59, 'dir_unlink', D, fsErrors, 'unlink of entry (payload) in directory handle arg0.'),
  dirRename: call(
    60,
    'dir_rename',
    D,
    fsErrors,
    'Rename entry of directory handle arg0 to entry of directory handle arg1 (payload: the two names).',
  ),
  dirLink: call(
    61,
    'dir_link',
    D,
    fsErrors,
    'Hard link entry of directory handle arg0 as entry of directory handle arg1 (payload: the two names).',
  ),
  dirSymlink: call(
    62,
    'dir_symlink',
    D,
    fsErrors,
    'Create a symlink in directory handle arg0 (payload: target, name).',
  ),
  dirReadlink: call(63, 'dir_readlink', D, fsErrors, 'Target of symlink (payload) in directory handle arg0.'),
  dirUtimes: call(
    64,
    'dir_utimes',
    D,
    fsErrors,
    'Set times (arg1, arg2) of entry (payload, not followed) of directory handle arg0.',
  ),
} as const satisfies Record<string, CallSpec>;

export type CallName = keyof typeof Calls;

/** Calls indexed by wire id. */
export const callsById: ReadonlyMap<number, CallSpec> = new Map(Object.values(Calls).map((c) => [c.id, c]));
