import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ImageError } from './errors.ts';
import { normalizeEntryPath } from './paths.ts';
import type { ProgressCallback } from './progress.ts';
import type { StageEntry, Stager } from './stage.ts';
import { MAX_ARCHIVE_BYTES, maybeGunzip, readTar, type TarLimits } from './tar.ts';

/** What `--from` turned out to be. */
export type SourceKind = 'directory' | 'tar' | 'oci' | 'docker-archive';

/** A source's layers, applied in order (a plain directory or tar is a single layer). */
export interface Source {
  kind: SourceKind;
  layers: { name: string; entries: StageEntry[] }[];
}

const WHITEOUT = '.wh.';

/** Reads a blob addressed by an OCI digest, checking the digest. */
function blobReader(read: (path: string) => Uint8Array | undefined, where: string) {
  return (digest: unknown): Uint8Array => {
    if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new ImageError(`${where}: unsupported or malformed digest ${JSON.stringify(digest)}`);
    }
    const hex = digest.slice('sha256:'.length);
    const bytes = read(`blobs/sha256/${hex}`);
    if (!bytes) throw new ImageError(`${where}: blob ${digest} is missing`);
    if (createHash('sha256').update(bytes).digest('hex') !== hex) {
      throw new ImageError(`${where}: blob ${digest} does not match its digest`);
    }
    return bytes;
  };
}

function json(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ImageError(`${what}: not valid JSON`);
}

function descriptors(value: unknown, what: string): Record<string, unknown>[] {
  if (!Array.isArray(value) || value.length === 0) throw new ImageError(`${what}: no descriptors`);
  if (!value.every((d) => typeof d === 'object' && d !== null))
    throw new ImageError(`${what}: malformed descriptor`);
  return value as Record<string, unknown>[];
}

/** OCI image layout: index.json → (nested indexes →) manifest → layers, each digest checked. */
function ociLayers(read: (path: string) => Uint8Array | undefined, where: string, limits: TarLimits) {
  const blob = blobReader(read, where);
  const index = read('index.json');
  if (!index) throw new ImageError(`${where}: no index.json`);
  let doc = json(index, `${where}: index.json`);
  for (let depth = 0; doc.manifests !== undefined; depth++) {
    if (depth > 4) throw new ImageError(`${where}: image indexes nested too deeply`);
    const list = descriptors(doc.manifests, `${where}: index`);
    const chosen =
      list.find((m) => {
        const p = m.platform as Record<string, unknown> | undefined;
        return p?.os === 'linux' && p?.architecture === 'amd64';
      }) ?? list[0];
    doc = json(blob(chosen.digest), `${where}: manifest ${String(chosen.digest)}`);
  }
  return descriptors(doc.layers, `${where}: manifest layers`).map((layer) => {
    const type = String(layer.mediaType ?? '');
    if (/zstd/.test(type)) throw new ImageError(`${where}: zstd-compressed layers are not supported`);
    const name = `${where}: layer ${String(layer.digest)}`;
    return { name, entries: readTar(maybeGunzip(blob(layer.digest), name, limits), name, limits) };
  });
}

/** The layer paths of a `docker save` archive's manifest.json, or null when it is not one. */
function dockerLayerPaths(manifest: Uint8Array | undefined): unknown[] | null {
  if (!manifest) return null;
  try {
    const list: unknown = JSON.parse(Buffer.from(manifest).toString('utf8'));
    const layers = Array.isArray(list) ? (list[0] as Record<string, unknown> | undefined)?.Layers : undefined;
    return Array.isArray(layers) ? layers : null;
  } catch {
    return null;
  }
}

/** `docker save` archive: manifest.json lists the layer tars by path. */
function dockerLayers(
  paths: unknown[],
  read: (path: string) => Uint8Array | undefined,
  where: string,
  limits: TarLimits,
) {
  return paths.map((path) => {
    const rel = normalizeEntryPath(String(path), 'layer');
    const bytes = read(rel);
    if (!bytes) throw new ImageError(`${where}: layer ${rel} is missing`);
    const name = `${where}: layer ${rel}`;
    return { name, entries: readTar(maybeGunzip(bytes, name, limits), name, limits) };
  });
}

/** Lists a host directory as entries (sorted, owner root, modes kept). */
function directoryEntries(dir: string): StageEntry[] {
  const out: StageEntry[] = [];
  const walk = (host: string, rel: string) => {
    for (const name of readdirSync(host).sort()) {
      const path = join(host, name);
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(path);
      const base = { path: child, mode: st.mode & 0o7777, uid: 0, gid: 0, linkName: '' };
      if (st.isDirectory()) {
        out.push({ ...base, type: 'dir' });
        walk(path, child);
      } else if (st.isSymbolicLink()) out.push({ ...base, type: 'symlink', linkName: readlinkSync(path) });
      else if (st.isFile()) out.push({ ...base, type: 'file', sourcePath: path });
      else out.push({ ...base, type: 'other' });
    }
  };
  walk(dir, '');
  return out;
}

/** Works out what `from` is and reads its layers. Archives are read into memory (bounded by `limits`). */
export function openSource(from: string, limits: TarLimits = {}): Source {
  if (!existsSync(from)) throw new ImageError(`${from}: no such file or directory`);
  if (statSync(from).isDirectory()) {
    if (existsSync(join(from, 'oci-layout')) && existsSync(join(from, 'index.json'))) {
      const read = (p: string) => {
        const path = join(from, normalizeEntryPath(p));
        return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
      };
      return { kind: 'oci', layers: ociLayers(read, from, limits) };
    }
    return { kind: 'directory', layers: [{ name: from, entries: directoryEntries(from) }] };
  }
  const max = limits.maxArchiveBytes ?? MAX_ARCHIVE_BYTES;
  if (statSync(from).size > max) {
    throw new ImageError(`${from}: archives over ${max} bytes are not supported (build from a directory)`);
  }
  const entries = readTar(maybeGunzip(new Uint8Array(readFileSync(from)), from, limits), from, limits);
  const files = new Map<string, Uint8Array>();
  for (const e of entries) if (e.type === 'file') files.set(normalizeEntryPath(e.path), e.data);
  const read = (p: string) => files.get(normalizeEntryPath(p));
  if (files.has('oci-layout') && files.has('index.json')) {
    return { kind: 'oci', layers: ociLayers(read, from, limits) };
  }
  const dockerPaths = dockerLayerPaths(files.get('manifest.json'));
  if (dockerPaths) return { kind: 'docker-archive', layers: dockerLayers(dockerPaths, read, from, limits) };
  return { kind: 'tar', layers: [{ name: from, entries }] };
}

/**
 * Applies the source's layers to the stager in order. In image layers (OCI, docker) whiteouts
 * are honoured first, against the layers below only (as the OCI spec says), then the entries.
 */
export function stageSource(source: Source, stager: Stager, onProgress?: ProgressCallback): void {
  const layered = source.kind === 'oci' || source.kind === 'docker-archive';
  const total = source.layers.reduce((n, l) => n + l.entries.length, 0);
  let done = 0;
  for (const layer of source.layers) {
    const isWhiteout = (e: StageEntry) => layered && basename(e.path).startsWith(WHITEOUT);
    try {
      for (const e of layer.entries) if (isWhiteout(e)) stager.whiteout(e.path);
      for (const e of layer.entries) {
        if (!isWhiteout(e)) stager.add(e);
        onProgress?.('staging', ++done, total, 'entries');
      }
    } catch (error) {
      if (error instanceof ImageError && source.layers.length > 1) {
        throw new ImageError(`${layer.name}: ${error.message}`);
      }
      throw error;
    }
  }
}
