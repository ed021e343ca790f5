/**
 * The sim platform identity file: the "fused" secrets of a simulated CPU, as JSON (hex for bytes, PEM for
 * keys and certificates). Created on first use with mode 0600 in a 0700 directory; refused when group
 * or others can read it.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fromHex, toHex } from '../../attestation/bytes.ts';
import type { SimCertKey, SimPkiFiles } from './pki.ts';

const FORMAT = 'cloister-sim-platform';
const FORMAT_VERSION = 1;

/** A refused platform operation; `code` names the rule. */
export class SimPlatformError extends Error {
  override name = 'SimPlatformError';
  constructor(
    readonly code:
      | 'bad-platform-file'
      | 'platform-file-permissions'
      | 'no-platform'
      | 'bad-identity'
      | 'bad-key-request'
      | 'isvsvn-too-high'
      | 'cpusvn-too-high'
      | 'bad-report'
      | 'report-mac',
    message: string,
  ) {
    super(message);
  }
}

/** The platform identity file (JSON). Hex strings for bytes, PEM for keys and certificates. */
export interface SimPlatformFile {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  /** 32 bytes: the root of every report and seal key (SGX's fused root seal key). */
  rootSecret: string;
  /** 16 bytes: the CPU's security version (one SVN per TCB component, as in the PCK certificate). */
  cpuSvn: string;
  pceSvn: number;
  pceId: string;
  fmspc: string;
  ppid: string;
  pki: SimPkiFiles;
  /** The quoting enclave's ECDSA P-256 attestation key (PKCS#8 PEM). */
  attestationKey: string;
  /** Hex serial numbers of PCK certificates listed in the sim PCK CRL. */
  revokedPckSerials: string[];
}

/** Defaults of a new platform: a plausible CPUSVN and PCESVN, a made-up FMSPC. */
const NEW_PLATFORM = {
  cpuSvn: '0404020203010003' + '00'.repeat(8),
  pceSvn: 13,
  pceId: '0000',
  fmspc: '00c10e000000',
};

/** `$CLOISTER_SIM_PLATFORM`, else `~/.cloister/sim-platform.json`. */
export function defaultPlatformPath(): string {
  return process.env.CLOISTER_SIM_PLATFORM || join(homedir(), '.cloister', 'sim-platform.json');
}

/** Fresh secrets and a sim PKI valid from a day ago for 20 years. */
async function newPlatformFile(): Promise<SimPlatformFile> {
  const now = Date.now();
  const ppid = toHex(randomBytes(16));
  // The certificate generator is loaded only to create a platform, not on every launch.
  const { createSimPki } = await import('./pki.ts');
  const pki = await createSimPki(
    {
      ppid: fromHex(ppid),
      cpuSvn: fromHex(NEW_PLATFORM.cpuSvn),
      pceSvn: NEW_PLATFORM.pceSvn,
      pceId: fromHex(NEW_PLATFORM.pceId),
      fmspc: fromHex(NEW_PLATFORM.fmspc),
    },
    new Date(now - 24 * 3600_000),
    new Date(now + 20 * 365 * 24 * 3600_000),
  );
  const attestation = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    format: FORMAT,
    version: FORMAT_VERSION,
    rootSecret: toHex(randomBytes(32)),
    ...NEW_PLATFORM,
    ppid,
    pki,
    attestationKey: attestation.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    revokedPckSerials: [],
  };
}

/**
 * Creates `dir` and its missing parents (mode 0700), one level at a time: Node 20's recursive mkdir
 * never returns where mkdir answers ENOENT under a parent that exists (under /proc, for one).
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) mkdirSync(d, { mode: 0o700 });
}

const serialize = (file: SimPlatformFile): string => JSON.stringify(file, null, 2) + '\n';

/**
 * Reads the platform file at `path`, creating it unless `create` is false. A new file is written whole
 * under a temporary name and linked into place, so a concurrent opener never sees it partial, and if
 * another process created it first, theirs is used.
 */
export async function loadPlatformFile(path: string, create: boolean): Promise<SimPlatformFile> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!create) throw new SimPlatformError('no-platform', `no sim platform at ${path}`);
    const file = await newPlatformFile();
    const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
    try {
      makeDirectories(dirname(path));
      writeFileSync(tmp, serialize(file), { mode: 0o600, flag: 'wx' });
    } catch (writeError) {
      throw new SimPlatformError(
        'no-platform',
        `cannot create a sim platform at ${path}: ${(writeError as Error).message}`,
      );
    }
    try {
      linkSync(tmp, path);
    } catch (linkError) {
      if ((linkError as NodeJS.ErrnoException).code === 'EEXIST') return loadPlatformFile(path, false);
      throw linkError;
    } finally {
      unlinkSync(tmp);
    }
    return file;
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new SimPlatformError(
      'platform-file-permissions',
      `${path}: the sim platform's secrets are readable by others (chmod 600 it)`,
    );
  }
  return parsePlatformFile(text, path);
}

/** Replaces the platform file (atomically, mode 0600). */
export function savePlatformFile(path: string, file: SimPlatformFile): void {
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
  writeFileSync(tmp, serialize(file), { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

function parsePlatformFile(text: string, path: string): SimPlatformFile {
  const bad = (what: string): never => {
    throw new SimPlatformError('bad-platform-file', `${path}: ${what}`);
  };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('not a JSON object');
  if (o.format !== FORMAT || o.version !== FORMAT_VERSION)
    bad(`not a ${FORMAT} file of version ${FORMAT_VERSION}`);
  const hex = (k: string, bytes: number): void => {
    const v = o[k];
    if (typeof v !== 'string' || !new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(v))
      bad(`${k} is not ${bytes} bytes of hex`);
  };
  hex('rootSecret', 32);
  hex('cpuSvn', 16);
  hex('pceId', 2);
  hex('fmspc', 6);
  hex('ppid', 16);
  if (!Number.isInteger(o.pceSvn) || (o.pceSvn as number) < 0 || (o.pceSvn as number) > 0xffff) bad('pceSvn');
  const serials = o.revokedPckSerials;
  if (!Array.isArray(serials) || !serials.every((s) => typeof s === 'string' && /^[0-9a-f]+$/.test(s)))
    bad('revokedPckSerials');
  const pki = o.pki as Record<string, SimCertKey | undefined> | undefined;
  for (const k of PKI_ENTRIES) {
    const ck = pki?.[k];
    if (ck === undefined || typeof ck.cert !== 'string' || typeof ck.key !== 'string') return bad(`pki.${k}`);
  }
  if (typeof o.attestationKey !== 'string') bad('attestationKey');
  return o as unknown as SimPlatformFile;
}

const PKI_ENTRIES = ['rootCa', 'pckCa', 'tcbSigning', 'pck'] as const;

/**
 * Parses every certificate and key of the file (PEM), refusing it as a damaged platform file when
 * one does not parse. Only quotes and collateral use them, so the platform checks them on first
 * use (SimPlatform): a run that never quotes does not pay for parsing nine PEM objects.
 */
export function checkPlatformKeys(file: SimPlatformFile, path: string): void {
  const pem = (what: string, load: () => void): void => {
    try {
      load();
    } catch {
      throw new SimPlatformError('bad-platform-file', `${path}: ${what} is not valid PEM`);
    }
  };
  for (const k of PKI_ENTRIES) {
    const ck = file.pki[k];
    pem(`pki.${k}`, () => {
      new X509Certificate(ck.cert);
      createPrivateKey(ck.key);
    });
  }
  pem('attestationKey', () => {
    createPrivateKey(file.attestationKey);
  });
}
