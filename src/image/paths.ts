import { ImageError } from './errors.ts';

/**
 * Normalizes a path from an archive or manifest to a relative path inside the image ('' is the
 * root). Leading `./` and `.` components are dropped; absolute paths, `..` components and NUL bytes
 * are refused, since they could address files outside the staging directory.
 */
export function normalizeEntryPath(raw: string, what = 'entry'): string {
  if (raw.includes('\0')) throw new ImageError(`${what} ${JSON.stringify(raw)}: NUL byte in the path`);
  if (raw.startsWith('/')) throw new ImageError(`${what} ${JSON.stringify(raw)}: absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ImageError(`${what} ${JSON.stringify(raw)}: '..' in the path`);
  return parts.join('/');
}
