/**
 * /dev/attestation, after Gramine's interface (`gramine-sgx`'s attestation pseudo-files), so that
 * programs written for it carry over:
 *   attestation_type   "dcap" (the evidence is a DCAP quote; under `sim`, signed by the sim root)
 *   mrenclave          this enclave's MRENCLAVE (32 bytes)
 *   my_target_info     this enclave's TARGETINFO (512)
 *   target_info        write the TARGETINFO a `report` should be for (512; default: this enclave)
 *   user_report_data   write the 64 bytes `report` and `quote` carry
 *   report             read: EREPORT(target_info, user_report_data) (432)
 *   quote              read: a DCAP quote with user_report_data
 *   keys/_sgx_mrenclave, keys/_sgx_mrsigner   seal keys (16 bytes each)
 * Each read takes a snapshot when the file is opened.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import { REPORT_DATA_SIZE, TARGET_INFO_SIZE, SEAL_POLICY } from '../../interface/platform.ts';
import { FileType } from '../../interface/services.ts';
import { InodeBase } from '../vfs/base.ts';
import type { DirPage, FileHandle, FileSystem, Inode, OpenOptions, Stat } from '../vfs/index.ts';
import type { Platform } from './platform-client.ts';

interface Value {
  get(): Uint8Array;
  /** Absent for read-only files. */
  set?(bytes: Uint8Array): void;
  size: number;
}

let nextDev = 1n << 44n;

class AttestationFs implements FileSystem {
  readonly type = 'attestation';
  readonly readOnly = false;
  readonly dev = nextDev++;
  private nextIno = 1n;
  readonly rootDir: PseudoDir;

  constructor() {
    this.rootDir = new PseudoDir(this);
  }

  root(): Inode {
    return this.rootDir;
  }

  ino(): bigint {
    return this.nextIno++;
  }
}

abstract class PseudoNode extends InodeBase {
  readonly ino: bigint;
  constructor(readonly fs: AttestationFs) {
    super();
    this.ino = fs.ino();
  }
  abstract size(): number;
  stat(): Stat {
    return {
      dev: this.fs.dev,
      ino: this.ino,
      filetype: this.filetype,
      nlink: 1n,
      size: BigInt(this.size()),
      atimNs: 0n,
      mtimNs: 0n,
      ctimNs: 0n,
    };
  }
  setTimes(): void {
    throw new WasiError(Errno.PERM);
  }
}

class PseudoFile extends PseudoNode {
  readonly filetype = FileType.REGULAR_FILE;
  constructor(
    fs: AttestationFs,
    private readonly value: Value,
  ) {
    super(fs);
  }

  size(): number {
    return this.value.size;
  }

  override open(options: OpenOptions): FileHandle {
    const { value } = this;
    if ((options.write || options.truncate) && !value.set) throw new WasiError(Errno.ACCES);
    let snapshot: Uint8Array | undefined;
    const current = (): Uint8Array => (snapshot ??= value.get());
    return {
      read: (offset, dst) => {
        const data = current().subarray(offset, offset + dst.length);
        dst.set(data);
        return data.length;
      },
      write: (offset, src) => {
        if (!value.set) throw new WasiError(Errno.BADF);
        if (offset + src.length > value.size)
          throw new WasiError(Errno.INVAL, 'attestation files have a fixed size');
        const next = value.get().slice();
        next.set(src, offset);
        value.set(next);
        snapshot = undefined;
        return src.length;
      },
      size: () => current().length,
      stat: () => ({ ...this.stat(), size: BigInt(current().length) }),
      truncate: (size) => {
        if (!value.set || size !== value.size) throw new WasiError(Errno.INVAL);
      },
      sync: () => {},
      setTimes: () => {},
      close: () => {},
    };
  }
}

class PseudoDir extends PseudoNode {
  readonly filetype = FileType.DIRECTORY;
  readonly entries = new Map<string, PseudoNode>();
  size(): number {
    return this.entries.size;
  }
  override lookup(name: string): Inode | null {
    return this.entries.get(name) ?? null;
  }
  override createFile(name: string, exclusive: boolean): Inode {
    const node = this.entries.get(name);
    if (node && !exclusive) return node;
    throw new WasiError(node ? Errno.EXIST : Errno.ACCES);
  }
  override readdir(cookie: number, max: number): DirPage {
    const all = [...this.entries].map(([name, n], i) => ({
      name,
      filetype: n.filetype,
      ino: n.ino,
      next: i + 1,
    }));
    return { entries: all.slice(cookie, cookie + max), end: cookie + max >= all.length };
  }
}

/** Builds /dev/attestation for this enclave. */
export function createAttestationFs(platform: Platform, mrenclave: Uint8Array): FileSystem {
  const fs = new AttestationFs();
  let targetInfo: Uint8Array | undefined;
  let userReportData: Uint8Array = new Uint8Array(REPORT_DATA_SIZE);
  const myTargetInfo = (): Uint8Array => (targetInfo ??= platform.myTargetInfo());
  const fixed = (bytes: Uint8Array): Value => ({ get: () => bytes, size: bytes.length });
  const files: Record<string, Value> = {
    attestation_type: fixed(new TextEncoder().encode('dcap')),
    mrenclave: fixed(mrenclave.slice()),
    my_target_info: { get: () => platform.myTargetInfo(), size: TARGET_INFO_SIZE },
    target_info: {
      get: () => myTargetInfo(),
      set: (bytes) => (targetInfo = bytes),
      size: TARGET_INFO_SIZE,
    },
    user_report_data: {
      get: () => userReportData,
      set: (bytes) => (userReportData = bytes),
      size: REPORT_DATA_SIZE,
    },
    report: { get: () => platform.ereport(myTargetInfo(), userReportData), size: 432 },
    quote: { get: () => platform.quote(userReportData), size: 0 },
  };
  for (const [name, value] of Object.entries(files)) fs.rootDir.entries.set(name, new PseudoFile(fs, value));
  const keys = new PseudoDir(fs);
  keys.entries.set(
    '_sgx_mrenclave',
    new PseudoFile(fs, { get: () => platform.sealKey(SEAL_POLICY.MRENCLAVE), size: 16 }),
  );
  keys.entries.set(
    '_sgx_mrsigner',
    new PseudoFile(fs, { get: () => platform.sealKey(SEAL_POLICY.MRSIGNER), size: 16 }),
  );
  fs.rootDir.entries.set('keys', keys);
  return fs;
}
