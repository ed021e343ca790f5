/**
 * WireGuard configuration in wg-quick's format, parsed strictly: the keys the enclave uses, each
 * checked, every error naming its line. Keys that run programs or change the host (PreUp, PostUp,
 * DNS, Table, FwMark, SaveConfig) are refused: the enclave has no host to configure.
 *
 *   [Interface]                       [Peer]
 *   PrivateKey = <base64> | generate  PublicKey = <base64>
 *   Address = 10.0.0.2/24             PresharedKey = <base64>
 *   ListenPort = 51820                Endpoint = 192.0.2.1:51820
 *   MTU = 1420                        AllowedIPs = 10.0.0.0/24, 10.9.0.1/32
 *                                     PersistentKeepalive = 25 | off
 *
 *   [Hosts]                           Cloister's own section (wg-quick has none): names the
 *   db.internal = 10.0.0.3            enclave resolves itself, as /etc/hosts does (no DNS)
 */
import { decodeKey, equalBytes, publicKey } from './wireguard/crypto.ts';
import { parseCidr4, parseIPv4, prefixMask } from './ipv4.ts';
import type { Cidr4 } from './ipv4.ts';
import { MAX_HOSTS, canonicalHostName, hostEntryProblem } from './hosts.ts';

export interface WgInterfaceConfig {
  /** The key, or 'generate': made inside the enclave, never seen by the host. */
  privateKey: Uint8Array | 'generate';
  addresses: Cidr4[];
  listenPort: number | undefined;
  mtu: number;
}

export interface WgPeerConfig {
  publicKey: Uint8Array;
  presharedKey: Uint8Array | undefined;
  endpoint: { address: string; port: number } | undefined;
  allowedIPs: Cidr4[];
  persistentKeepalive: number | undefined;
}

export interface WgConfig {
  interface: WgInterfaceConfig;
  peers: WgPeerConfig[];
  /** The `[Hosts]` section: names the enclave resolves, in the file's order. */
  hosts: { name: string; address: string }[];
}

export class WgConfigError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'WgConfigError';
  }
}

export const DEFAULT_MTU = 1420;
const MAX_CONFIG_BYTES = 256 * 1024;
const MAX_PEERS = 1024;
const MAX_LINE = 4096;

const REFUSED = new Set(['preup', 'postup', 'predown', 'postdown', 'dns', 'table', 'fwmark', 'saveconfig']);
const INTERFACE_KEYS = new Set(['privatekey', 'address', 'listenport', 'mtu']);
const PEER_KEYS = new Set(['publickey', 'presharedkey', 'endpoint', 'allowedips', 'persistentkeepalive']);
/** Keys that may repeat in a section; their lists add up, as wg-quick does. */
const LIST_KEYS = new Set(['address', 'allowedips']);

function key(value: string, line: number, name: string): Uint8Array {
  const k = decodeKey(value);
  if (!k)
    throw new WgConfigError(line, `${name} is not a WireGuard key (44 characters of base64 for 32 bytes)`);
  return k;
}

function integer(value: string, line: number, name: string, min: number, max: number): number {
  if (!/^[0-9]{1,6}$/.test(value) || Number(value) < min || Number(value) > max)
    throw new WgConfigError(
      line,
      `${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`,
    );
  return Number(value);
}

function cidrList(value: string, line: number, name: string, normalise: boolean): Cidr4[] {
  return value.split(',').map((part) => {
    const text = part.trim();
    if (text.includes(':'))
      throw new WgConfigError(
        line,
        `${name}: ${JSON.stringify(text)} is IPv6, which the enclave's stack does not carry`,
      );
    const c = parseCidr4(text);
    if (!c)
      throw new WgConfigError(
        line,
        `${name}: ${JSON.stringify(text)} is not an IPv4 address or a.b.c.d/prefix`,
      );
    return normalise ? { address: (c.address & prefixMask(c.prefix)) >>> 0, prefix: c.prefix } : c;
  });
}

function endpoint(value: string, line: number): { address: string; port: number } {
  const m = /^([0-9.]+):([0-9]{1,5})$/.exec(value);
  if (!m || parseIPv4(m[1]!) === undefined)
    throw new WgConfigError(
      line,
      `Endpoint must be an IPv4 address and port (a.b.c.d:port), not ${JSON.stringify(value)}; host names are not resolved`,
    );
  return { address: m[1]!, port: integer(m[2]!, line, 'Endpoint port', 1, 65535) };
}

/** Control characters other than tab (a configuration is text; NUL and friends are hostile). */
function hasControlCharacter(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

type Section = {
  kind: 'interface' | 'peer' | 'hosts';
  line: number;
  values: Map<string, { value: string; line: number }[]>;
};

function sections(text: string): Section[] {
  if (text.length > MAX_CONFIG_BYTES)
    throw new WgConfigError(0, `the configuration is larger than ${MAX_CONFIG_BYTES} bytes`);
  const out: Section[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!;
    if (raw.length > MAX_LINE) throw new WgConfigError(n, `the line is longer than ${MAX_LINE} characters`);
    if (hasControlCharacter(raw)) throw new WgConfigError(n, 'the line has control characters');
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const header = /^\[\s*([A-Za-z]+)\s*\]$/.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      if (name !== 'interface' && name !== 'peer' && name !== 'hosts')
        throw new WgConfigError(n, `unknown section [${header[1]}]`);
      if (name === 'hosts' && out.some((s) => s.kind === 'hosts'))
        throw new WgConfigError(n, 'a second [Hosts] section');
      if (name === 'peer' && out.filter((s) => s.kind === 'peer').length >= MAX_PEERS)
        throw new WgConfigError(n, `more than ${MAX_PEERS} peers`);
      out.push({ kind: name, line: n, values: new Map() });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0)
      throw new WgConfigError(n, `expected "Key = Value" or a [Section], not ${JSON.stringify(line)}`);
    const k = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    const lower = k.toLowerCase();
    const section = out.at(-1);
    if (!section) throw new WgConfigError(n, `${k} is outside any section; start with [Interface]`);
    if (section.kind === 'hosts') {
      hostLine(section, k, v, n);
      continue;
    }
    if (REFUSED.has(lower))
      throw new WgConfigError(
        n,
        `${k} is not supported: the enclave runs no commands and configures no host`,
      );
    const allowed = section.kind === 'interface' ? INTERFACE_KEYS : PEER_KEYS;
    if (!allowed.has(lower))
      throw new WgConfigError(
        n,
        `unknown key ${k} in [${section.kind === 'interface' ? 'Interface' : 'Peer'}]`,
      );
    if (v === '') throw new WgConfigError(n, `${k} has no value`);
    const list = section.values.get(lower) ?? [];
    if (list.length > 0 && !LIST_KEYS.has(lower))
      throw new WgConfigError(n, `${k} is given twice in this section (first on line ${list[0]!.line})`);
    list.push({ value: v, line: n });
    section.values.set(lower, list);
  }
  return out;
}

/** `name = address` in [Hosts]: each name once (without case), at most MAX_HOSTS. */
function hostLine(section: Section, name: string, address: string, n: number): void {
  const problem = hostEntryProblem(name, address);
  if (problem) throw new WgConfigError(n, `[Hosts]: ${problem}`);
  const canonical = canonicalHostName(name)!;
  const earlier = section.values.get(canonical);
  if (earlier)
    throw new WgConfigError(n, `[Hosts]: ${name} is given twice (first on line ${earlier[0]!.line})`);
  if (section.values.size >= MAX_HOSTS) throw new WgConfigError(n, `[Hosts]: more than ${MAX_HOSTS} names`);
  section.values.set(canonical, [{ value: address, line: n }]);
}

function one(section: Section, name: string): { value: string; line: number } | undefined {
  return section.values.get(name)?.[0];
}

/** Parses a wg-quick configuration; throws WgConfigError naming the line of the first problem. */
export function parseWgConfig(text: string): WgConfig {
  const all = sections(text);
  const interfaces = all.filter((s) => s.kind === 'interface');
  if (interfaces.length === 0) throw new WgConfigError(0, 'there is no [Interface] section');
  if (interfaces.length > 1) throw new WgConfigError(interfaces[1]!.line, 'a second [Interface] section');
  const s = interfaces[0]!;

  const pk = one(s, 'privatekey');
  if (!pk) throw new WgConfigError(s.line, '[Interface] has no PrivateKey (a key, or "generate")');
  const privateKey = pk.value === 'generate' ? 'generate' : key(pk.value, pk.line, 'PrivateKey');
  const addressLines = s.values.get('address');
  if (!addressLines) throw new WgConfigError(s.line, '[Interface] has no Address');
  const addresses = addressLines.flatMap((a) => cidrList(a.value, a.line, 'Address', false));
  const lp = one(s, 'listenport');
  const mtu = one(s, 'mtu');

  const peers: WgPeerConfig[] = [];
  for (const p of all.filter((x) => x.kind === 'peer')) {
    const pub = one(p, 'publickey');
    if (!pub) throw new WgConfigError(p.line, '[Peer] has no PublicKey');
    const publicKeyBytes = key(pub.value, pub.line, 'PublicKey');
    const dup = peers.find((q) => equalBytes(q.publicKey, publicKeyBytes));
    if (dup) throw new WgConfigError(pub.line, 'this PublicKey belongs to an earlier [Peer] too');
    if (privateKey !== 'generate' && equalBytes(publicKey(privateKey), publicKeyBytes))
      throw new WgConfigError(pub.line, "the peer's PublicKey is this interface's own");
    const psk = one(p, 'presharedkey');
    const ep = one(p, 'endpoint');
    const allowed = p.values.get('allowedips') ?? [];
    const ka = one(p, 'persistentkeepalive');
    peers.push({
      publicKey: publicKeyBytes,
      presharedKey: psk ? key(psk.value, psk.line, 'PresharedKey') : undefined,
      endpoint: ep ? endpoint(ep.value, ep.line) : undefined,
      allowedIPs: allowed.flatMap((a) => cidrList(a.value, a.line, 'AllowedIPs', true)),
      persistentKeepalive:
        !ka || ka.value === 'off'
          ? undefined
          : integer(ka.value, ka.line, 'PersistentKeepalive', 0, 65535) || undefined,
    });
  }
  const hostSection = all.find((x) => x.kind === 'hosts');
  const hosts = [...(hostSection?.values ?? [])].map(([name, [entry]]) => ({ name, address: entry!.value }));
  return {
    hosts,
    interface: {
      privateKey,
      addresses,
      listenPort: lp ? integer(lp.value, lp.line, 'ListenPort', 0, 65535) : undefined,
      mtu: mtu ? integer(mtu.value, mtu.line, 'MTU', 576, 65455) : DEFAULT_MTU,
    },
    peers,
  };
}
