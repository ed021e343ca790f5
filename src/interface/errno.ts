/**
 * WASI preview1 errno values (`wasi_snapshot_preview1` `errno` enum). Both sides speak these:
 * the host server maps host errors to them, the enclave checks each reply against the call's
 * allow-list in `calls.ts` before it believes one.
 */
export const Errno = {
  SUCCESS: 0,
  TOOBIG: 1,
  ACCES: 2,
  ADDRINUSE: 3,
  ADDRNOTAVAIL: 4,
  AFNOSUPPORT: 5,
  AGAIN: 6,
  ALREADY: 7,
  BADF: 8,
  BADMSG: 9,
  BUSY: 10,
  CANCELED: 11,
  CHILD: 12,
  CONNABORTED: 13,
  CONNREFUSED: 14,
  CONNRESET: 15,
  DEADLK: 16,
  DESTADDRREQ: 17,
  DOM: 18,
  DQUOT: 19,
  EXIST: 20,
  FAULT: 21,
  FBIG: 22,
  HOSTUNREACH: 23,
  IDRM: 24,
  ILSEQ: 25,
  INPROGRESS: 26,
  INTR: 27,
  INVAL: 28,
  IO: 29,
  ISCONN: 30,
  ISDIR: 31,
  LOOP: 32,
  MFILE: 33,
  MLINK: 34,
  MSGSIZE: 35,
  MULTIHOP: 36,
  NAMETOOLONG: 37,
  NETDOWN: 38,
  NETRESET: 39,
  NETUNREACH: 40,
  NFILE: 41,
  NOBUFS: 42,
  NODEV: 43,
  NOENT: 44,
  NOEXEC: 45,
  NOLCK: 46,
  NOLINK: 47,
  NOMEM: 48,
  NOMSG: 49,
  NOPROTOOPT: 50,
  NOSPC: 51,
  NOSYS: 52,
  NOTCONN: 53,
  NOTDIR: 54,
  NOTEMPTY: 55,
  NOTRECOVERABLE: 56,
  NOTSOCK: 57,
  NOTSUP: 58,
  NOTTY: 59,
  NXIO: 60,
  OVERFLOW: 61,
  OWNERDEAD: 62,
  PERM: 63,
  PIPE: 64,
  PROTO: 65,
  PROTONOSUPPORT: 66,
  PROTOTYPE: 67,
  RANGE: 68,
  ROFS: 69,
  SPIPE: 70,
  SRCH: 71,
  STALE: 72,
  TIMEDOUT: 73,
  TXTBSY: 74,
  XDEV: 75,
  NOTCAPABLE: 76,
} as const;

export type ErrnoName = keyof typeof Errno;

/** An error that carries a WASI errno; thrown inside the enclave and turned into the call's result. */
export class WasiError extends Error {
  readonly errno: number;

  constructor(errno: number, message?: string) {
    // An errno is an ordinary answer (SQLite probes for files that are not there thousands of
    // times), not a bug: skip the stack capture, which costs far more than the call itself.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? `errno ${errnoName(errno)}`);
    Error.stackTraceLimit = limit;
    this.errno = errno;
    this.name = 'WasiError';
  }
}

const names = new Map<number, string>(Object.entries(Errno).map(([k, v]) => [v, k]));

export function errnoName(errno: number): string {
  return names.get(errno) ?? String(errno);
}
