/**
 * Host names the enclave resolves by itself, from the `[Hosts]` section of the measured network
 * configuration: the tunnel has no DNS, and asking the host would tell it which names a program
 * looks up. Names follow RFC 1123 (labels of letters, digits and hyphens, at most 63 characters each,
 * 253 in all), compared without case and without a trailing dot; a name cannot look like an IPv4
 * address, and `localhost` is always 127.0.0.1.
 */
import { parseIPv4 } from './ipv4.ts';

export const MAX_HOSTS = 1024;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The canonical form of a host name (lower case, no trailing dot), or undefined when it is not one. */
export function canonicalHostName(name: string): string | undefined {
  const lower = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
  if (lower.length === 0 || lower.length > 253) return undefined;
  const labels = lower.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  // The last label of a name is never all digits (RFC 3696): "10.0.0.300" is a bad address, not a name.
  if (/^[0-9]+$/.test(labels.at(-1)!)) return undefined;
  return lower;
}

/** Why `name = address` cannot be a host entry, or undefined when it can. */
export function hostEntryProblem(name: string, address: string): string | undefined {
  const canonical = canonicalHostName(name);
  if (canonical === undefined || name.endsWith('.'))
    return `${JSON.stringify(name)} is not a host name (letters, digits, hyphens and dots; RFC 1123)`;
  if (canonical === 'localhost') return 'localhost is always 127.0.0.1 and cannot be redefined';
  if (parseIPv4(address) === undefined || address === '0.0.0.0')
    return `${JSON.stringify(address)} is not an IPv4 address a host can have`;
  return undefined;
}

/** A checked table of names to IPv4 addresses. */
export class HostTable {
  readonly #entries = new Map<string, string>();

  /** Throws on a bad or repeated entry (the configuration's parser names the line first). */
  constructor(entries: readonly { name: string; address: string }[] = []) {
    if (entries.length > MAX_HOSTS) throw new Error(`hosts: more than ${MAX_HOSTS} entries`);
    for (const { name, address } of entries) {
      const problem = hostEntryProblem(name, address);
      if (problem) throw new Error(`hosts: ${problem}`);
      const canonical = canonicalHostName(name)!;
      if (this.#entries.has(canonical)) throw new Error(`hosts: ${name} is given twice`);
      this.#entries.set(canonical, address);
    }
  }

  /**
   * The IPv4 address of `name`: itself when numeric, 127.0.0.1 for localhost, the table's entry,
   * or undefined (unknown, or not a name at all).
   */
  resolve(name: string): string | undefined {
    if (parseIPv4(name) !== undefined) return name;
    const canonical = canonicalHostName(name);
    if (canonical === undefined) return undefined;
    if (canonical === 'localhost') return '127.0.0.1';
    return this.#entries.get(canonical);
  }
}
