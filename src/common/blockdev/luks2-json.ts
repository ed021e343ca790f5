import { Buffer } from 'node:buffer';
import { type Luks2Hash, type Luks2Kdf } from './luks2-crypto.ts';
import { FormatError } from './types.ts';

/** A `luks2` keyslot. */
export interface Luks2Keyslot {
  id: number;
  /** Volume key size in bytes. */
  keySize: number;
  /** 0 = ignore when trying all slots, 1 = normal, 2 = high. */
  priority: number;
  af: { stripes: number; hash: Luks2Hash };
  area: { offset: number; size: number; encryption: string; keySize: number };
  kdf: Luks2Kdf;
}

/** A `crypt` data segment. */
export interface Luks2Segment {
  id: number;
  offset: number;
  /** Bytes, or 'dynamic' (to the end of the device). */
  size: number | 'dynamic';
  /** Added to the IV, in 512-byte units. */
  ivTweak: bigint;
  encryption: string;
  sectorSize: number;
  flags: string[];
}

/** A `pbkdf2` digest of the volume key. */
export interface Luks2Digest {
  id: number;
  keyslots: number[];
  segments: number[];
  hash: Luks2Hash;
  iterations: number;
  salt: Uint8Array;
  digest: Uint8Array;
}

/** The validated JSON metadata. */
export interface Luks2Metadata {
  keyslots: Luks2Keyslot[];
  segments: Luks2Segment[];
  digests: Luks2Digest[];
  config: { jsonSize: number; keyslotsSize: number; flags: string[]; requirements: string[] };
}

type Json = Record<string, unknown>;
const HASHES = ['sha1', 'sha256', 'sha512'];
const U32_MAX = 2 ** 32 - 1;

function fail(path: string, what: string): never {
  throw new FormatError(`LUKS2: JSON ${path} ${what}`);
}

function obj(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Json;
}

function str(o: Json, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${path}.${key}`, 'must be a string');
  return v;
}

/** A JSON integer (LUKS2 uses these for small values) within [min, max]. */
function int(o: Json, key: string, path: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${path}.${key}`, 'must be an integer');
  if (v < min || v > max) fail(`${path}.${key}`, `is out of range (${v})`);
  return v;
}

/** A uint64 written as a decimal string (LUKS2 does this for offsets and sizes); must fit a safe integer. */
function u64(o: Json, key: string, path: string): number {
  const v = str(o, key, path);
  if (!/^(0|[1-9][0-9]{0,19})$/.test(v)) fail(`${path}.${key}`, 'must be a decimal uint64 string');
  const n = BigInt(v);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${path}.${key}`, `is too large (${v})`);
  return Number(n);
}

function b64(o: Json, key: string, path: string, min: number, max: number): Uint8Array {
  const v = str(o, key, path);
  if (!/^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v))
    fail(`${path}.${key}`, 'is not base64');
  const bytes = Uint8Array.from(Buffer.from(v, 'base64'));
  if (bytes.length < min || bytes.length > max) fail(`${path}.${key}`, `has a bad length (${bytes.length})`);
  return bytes;
}

function hashName(o: Json, key: string, path: string): Luks2Hash {
  const v = str(o, key, path);
  if (!HASHES.includes(v)) fail(`${path}.${key}`, `names an unsupported hash '${v}'`);
  return v as Luks2Hash;
}

function strings(v: unknown, path: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(path, 'must be an array of strings');
  return v as string[];
}

/** Entries of an object keyed by small decimal ids ("0".."max-1"). */
function entries(o: Json, path: string, max: number): [number, Json][] {
  return Object.entries(o).map(([k, v]) => {
    if (!/^(0|[1-9][0-9]?)$/.test(k) || Number(k) >= max) fail(`${path}`, `has an invalid id '${k}'`);
    return [Number(k), obj(v, `${path}.${k}`)];
  });
}

function ids(v: unknown, path: string, known: Set<number>): number[] {
  return strings(v, path).map((s) => {
    if (!/^(0|[1-9][0-9]?)$/.test(s) || !known.has(Number(s))) fail(path, `references unknown id '${s}'`);
    return Number(s);
  });
}

function parseKdf(o: Json, path: string): Luks2Kdf {
  const type = str(o, 'type', path);
  if (type === 'pbkdf2') {
    return {
      type,
      hash: hashName(o, 'hash', path),
      iterations: int(o, 'iterations', path, 1, U32_MAX),
      salt: b64(o, 'salt', path, 1, 256),
    };
  }
  if (type === 'argon2i' || type === 'argon2id') {
    return {
      type,
      time: int(o, 'time', path, 1, U32_MAX),
      memory: int(o, 'memory', path, 8, 4 * 1024 * 1024),
      cpus: int(o, 'cpus', path, 1, 2 ** 24 - 1),
      salt: b64(o, 'salt', path, 8, 256),
    };
  }
  fail(`${path}.type`, `names an unsupported KDF '${type}'`);
}

/**
 * Parses and strictly validates the JSON metadata of a header of `hdrSize` bytes: every field LUKS2
 * requires, with types, ranges and cross-references (keyslot areas inside the keyslots area,
 * digests naming existing keyslots and segments). Unknown keyslot or segment types are refused.
 */
export function parseLuks2Json(text: string, hdrSize: number): Luks2Metadata {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    throw new FormatError('LUKS2: JSON metadata does not parse');
  }
  const top = obj(root, '(root)');
  for (const key of ['keyslots', 'tokens', 'segments', 'digests', 'config']) obj(top[key], key);

  const cfg = obj(top.config, 'config');
  const jsonSize = u64(cfg, 'json_size', 'config');
  if (jsonSize !== hdrSize - 4096) fail('config.json_size', 'does not match the header size');
  const keyslotsSize = u64(cfg, 'keyslots_size', 'config');
  if (keyslotsSize % 4096 !== 0) fail('config.keyslots_size', 'is not 4096-aligned');
  const areaStart = 2 * hdrSize;
  const areaEnd = areaStart + keyslotsSize;
  const requirements =
    cfg.requirements === undefined
      ? []
      : strings(
          obj(cfg.requirements, 'config.requirements').mandatory ?? [],
          'config.requirements.mandatory',
        );
  const config = {
    jsonSize,
    keyslotsSize,
    flags: cfg.flags === undefined ? [] : strings(cfg.flags, 'config.flags'),
    requirements,
  };

  const keyslots: Luks2Keyslot[] = [];
  const keyslotIds = new Set<number>();
  for (const [id, ks] of entries(obj(top.keyslots, 'keyslots'), 'keyslots', 32)) {
    const path = `keyslots.${id}`;
    keyslotIds.add(id);
    const type = str(ks, 'type', path);
    const area = obj(ks.area, `${path}.area`);
    const offset = u64(area, 'offset', `${path}.area`);
    const size = u64(area, 'size', `${path}.area`);
    if (offset < areaStart || offset + size > areaEnd) fail(`${path}.area`, 'lies outside the keyslots area');
    if (type === 'reencrypt') continue; // only present with the online-reencrypt requirement, refused below
    if (type !== 'luks2') fail(`${path}.type`, `is unsupported ('${type}')`);
    if (str(area, 'type', `${path}.area`) !== 'raw') fail(`${path}.area.type`, "must be 'raw'");
    const af = obj(ks.af, `${path}.af`);
    if (str(af, 'type', `${path}.af`) !== 'luks1') fail(`${path}.af.type`, "must be 'luks1'");
    const keySize = int(ks, 'key_size', path, 1, 512);
    const stripes = int(af, 'stripes', `${path}.af`, 1, 4000);
    const areaKeySize = int(area, 'key_size', `${path}.area`, 1, 512);
    if (keySize * stripes > size) fail(`${path}.area.size`, 'is too small for the key material');
    keyslots.push({
      id,
      keySize,
      priority: ks.priority === undefined ? 1 : int(ks, 'priority', path, 0, 2),
      af: { stripes, hash: hashName(af, 'hash', `${path}.af`) },
      area: { offset, size, encryption: str(area, 'encryption', `${path}.area`), keySize: areaKeySize },
      kdf: parseKdf(obj(ks.kdf, `${path}.kdf`), `${path}.kdf`),
    });
  }

  const segments: Luks2Segment[] = [];
  const segmentIds = new Set<number>();
  for (const [id, sg] of entries(obj(top.segments, 'segments'), 'segments', 32)) {
    const path = `segments.${id}`;
    segmentIds.add(id);
    const type = str(sg, 'type', path);
    if (type !== 'crypt') fail(`${path}.type`, `is unsupported ('${type}')`);
    if (sg.integrity !== undefined) fail(`${path}.integrity`, 'is unsupported (no dm-integrity)');
    const sectorSize = int(sg, 'sector_size', path, 512, 4096);
    if ((sectorSize & (sectorSize - 1)) !== 0) fail(`${path}.sector_size`, 'is not a power of two');
    const offset = u64(sg, 'offset', path);
    if (offset % sectorSize !== 0) fail(`${path}.offset`, 'is not sector-aligned');
    const size = sg.size === 'dynamic' ? 'dynamic' : u64(sg, 'size', path);
    if (size !== 'dynamic' && size % sectorSize !== 0)
      fail(`${path}.size`, 'is not a whole number of sectors');
    const ivTweak = BigInt(u64(sg, 'iv_tweak', path));
    segments.push({
      id,
      offset,
      size,
      ivTweak,
      encryption: str(sg, 'encryption', path),
      sectorSize,
      flags: sg.flags === undefined ? [] : strings(sg.flags, `${path}.flags`),
    });
  }

  const digests: Luks2Digest[] = [];
  for (const [id, dg] of entries(obj(top.digests, 'digests'), 'digests', 32)) {
    const path = `digests.${id}`;
    if (str(dg, 'type', path) !== 'pbkdf2') fail(`${path}.type`, "must be 'pbkdf2'");
    digests.push({
      id,
      keyslots: ids(dg.keyslots, `${path}.keyslots`, keyslotIds),
      segments: ids(dg.segments, `${path}.segments`, segmentIds),
      hash: hashName(dg, 'hash', path),
      iterations: int(dg, 'iterations', path, 1, U32_MAX),
      salt: b64(dg, 'salt', path, 1, 256),
      digest: b64(dg, 'digest', path, 20, 64),
    });
  }
  return { keyslots, segments, digests, config };
}
