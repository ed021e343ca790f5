/**
 * The measured run configuration: everything about a run that decides what the enclave will do,
 * and nothing host-specific (host directory paths are host settings, not part of the identity).
 * Its canonical JSON is part of the enclave image, so changing any field changes MRENCLAVE.
 */
import type { NetConfig } from './net-config.ts';

export type MountType = 'hostdir' | 'tmpfs' | 'volume';

export interface MountConfig {
  /** Absolute guest path of the mount point, preopened for the program. */
  guest: string;
  type: MountType;
  /** Volumes: the UUID the volume must carry (a different volume is refused). */
  uuid?: string;
  /** Volumes: opened read-only (`--volume VOL::GUEST:ro`); several such runs may share the volume. */
  readOnly?: boolean;
}

/**
 * A root disk image: ext4, optionally in a LUKS2 container, protected by dm-verity. Its root hash
 * pins every byte of the disk, so measuring it measures the program and files inside.
 */
export interface RootImageConfig {
  /** dm-verity root hash, hex. */
  rootHash: string;
  /** Byte offset of the verity superblock in the hash file (the image itself unless separate). */
  hashOffset: number;
  /** The hash tree is in its own file (`--hash-file`) rather than appended to the image. */
  separateHashFile: boolean;
  /** Number of verity data blocks (the root hash alone does not pin it). */
  dataBlocks: number;
  /** UUID of the LUKS2 container inside, or null for a plaintext ext4. */
  luksUuid: string | null;
  /** Absolute path of the program inside the image. */
  program: string;
  /** A writable in-enclave tmpfs over the read-only root (`--overlay`). */
  overlay: boolean;
}

export interface RunConfig {
  version: 1;
  /** argv, including argv[0]. */
  args: string[];
  /** NAME=VALUE pairs. */
  env: string[];
  mounts: MountConfig[];
  /** Enclave memory limit (WebAssembly linear memory, and separately the enclave's own heap). */
  memoryMiB: number;
  /** The root disk image the program comes from, when it runs from one. */
  root?: RootImageConfig;
  /**
   * The key broker that releases the root image's key to this enclave after attesting it, and keeps
   * the volumes' generation counters (rollback protection) when its key is pinned.
   */
  kbs?: KbsConfig;
  /**
   * Most program threads alive at once (the main one included) of a wasi-threads program, like
   * SGX's TCS count (`--threads`); absent means `DEFAULT_THREADS` (the CLI leaves the default
   * out), so runs that never name it keep their measurement.
   */
  threads?: number;
  /** `--net wg.conf` (and `--tcplisten`): the enclave's network, a WireGuard tunnel (docs/network.md). */
  net?: NetConfig;
}

/** The enclave memory limit when the run names none (`--memory`). */
export const DEFAULT_MEMORY_MIB = 512;
export const DEFAULT_THREADS = 8;
export const MAX_THREADS = 64;

/** The thread bound of a configuration: also the number of thread lanes in its host-call ring. */
export function threadLimit(config: RunConfig): number {
  return config.threads ?? DEFAULT_THREADS;
}

export interface KbsConfig {
  /** Base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** The resource holding the root image's key, repository/type/tag (when the broker releases it). */
  resource?: string;
  /**
   * The broker key (public P-256 JWK, `cloister kbs public-key`) that signs volume counter replies:
   * pinned here, measured, so that a host relaying the broker cannot forge or replay them.
   */
  brokerKey?: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

/** The configuration's canonical text (RFC 8785), as measured. */
export { canonicalJson } from './jcs.ts';

/** The guest paths a mount may use: absolute, normalized, not the root of another mount. */
export function checkGuestPath(path: string): string | undefined {
  if (!path.startsWith('/')) return `guest path ${JSON.stringify(path)} is not absolute`;
  if (path.includes('\0')) return 'guest path contains NUL';
  if (
    path !== '/' &&
    path
      .split('/')
      .slice(1)
      .some((c) => c === '' || c === '.' || c === '..')
  ) {
    return `guest path ${JSON.stringify(path)} is not normalized`;
  }
  return undefined;
}
