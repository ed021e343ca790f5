// Writes tar archives (ustar, pax, GNU long names) and OCI layouts for the image builder's tests,
// including malformed ones a hostile host or registry might hand over.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface TarMember {
  name: string;
  /** ustar typeflag; default '0' (file), or '5' when the name ends in '/'. */
  type?: string;
  data?: string | Uint8Array;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Size to write in the header instead of the data's length. */
  declaredSize?: number;
}

function put(block: Uint8Array, at: number, len: number, text: string): void {
  block.set(Buffer.from(text).subarray(0, len), at);
}

const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0');

/** One header block plus data blocks. */
export function member(m: TarMember): Uint8Array {
  const data = typeof m.data === 'string' ? Buffer.from(m.data) : (m.data ?? new Uint8Array(0));
  const header = new Uint8Array(512);
  put(header, 0, 100, m.name);
  put(header, 100, 8, octal(m.mode ?? (m.name.endsWith('/') ? 0o755 : 0o644), 8));
  put(header, 108, 8, octal(m.uid ?? 0, 8));
  put(header, 116, 8, octal(m.gid ?? 0, 8));
  put(header, 124, 12, octal(m.declaredSize ?? data.length, 12));
  put(header, 136, 12, octal(1700000000, 12));
  put(header, 156, 1, m.type ?? (m.name.endsWith('/') ? '5' : '0'));
  put(header, 157, 100, m.linkName ?? '');
  put(header, 257, 8, 'ustar\x0000');
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  put(header, 148, 8, `${octal(sum, 7)}\0`);
  const padded = new Uint8Array(Math.ceil(data.length / 512) * 512);
  padded.set(data);
  return Buffer.concat([header, padded]);
}

/** A pax extended header carrying `records` for the next member. */
export function pax(records: Record<string, string>): Uint8Array {
  const body = Object.entries(records)
    .map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = rest.length + 1;
      while (String(len).length + rest.length !== len) len++;
      return `${len}${rest}`;
    })
    .join('');
  return member({ name: 'PaxHeader', type: 'x', data: body });
}

/** A GNU long-name header for the next member. */
export function gnuLongName(name: string): Uint8Array {
  return member({ name: '././@LongLink', type: 'L', data: `${name}\0` });
}

/** A whole archive: the members and the two zero blocks. */
export function tar(...parts: (TarMember | Uint8Array)[]): Buffer {
  const blocks = parts.map((p) => (p instanceof Uint8Array ? p : member(p)));
  return Buffer.concat([...blocks, new Uint8Array(1024)]);
}

/** Writes an OCI image layout with the given layer archives (gzip for odd-numbered layers). */
export function writeOciLayout(dir: string, layers: Uint8Array[]): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = (bytes: Uint8Array, mediaType: string) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(dir, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = blob(
    Buffer.from('{"architecture":"amd64","os":"linux"}'),
    'application/vnd.oci.image.config.v1+json',
  );
  const layerDescs = layers.map((l, i) =>
    i % 2 === 1
      ? blob(gzipSync(l), 'application/vnd.oci.image.layer.v1.tar+gzip')
      : blob(l, 'application/vnd.oci.image.layer.v1.tar'),
  );
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: layerDescs })),
    'application/vnd.oci.image.manifest.v1+json',
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [manifest] }));
}
