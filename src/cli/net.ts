/** `cloister net keygen | pubkey | check`: WireGuard keys and configurations for `--net`. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { decodeKey, encodeKey, generatePrivateKey, publicKey } from '../enclave/net/wireguard/crypto.ts';
import { WgConfigError, parseWgConfig } from '../enclave/net/wg-config.ts';
import { formatIPv4, parseIPv4, type Cidr4 } from '../enclave/net/ipv4.ts';
import type { NetConfig, NetSecrets } from '../interface/net-config.ts';
import { UsageError } from './run-options.ts';

const MAX_CONFIG = 256 * 1024;

/** Standard input, refused beyond `max` bytes. */
function readStdin(max: number): string {
  const bytes = readFileSync(0);
  if (bytes.length > max) throw new UsageError('standard input is too long for a key');
  return bytes.toString('utf8');
}

/** The public key of a private key given as wg(8) prints it (surrounding white space allowed). */
export function publicKeyOf(privateKeyText: string): string {
  const key = decodeKey(privateKeyText.trim());
  if (!key) throw new UsageError('the input is not a WireGuard private key (44 characters of base64)');
  return encodeKey(publicKey(key));
}

/** A one-screen summary of a checked configuration. */
export function describeWgConfig(text: string): string {
  const config = parseWgConfig(text);
  const i = config.interface;
  const lines = [
    `interface: ${i.privateKey === 'generate' ? 'key generated inside the enclave' : `public key ${encodeKey(publicKey(i.privateKey))}`}`,
    `  address: ${i.addresses.map((a) => `${formatIPv4(a.address)}/${a.prefix}`).join(', ')}`,
    `  mtu: ${i.mtu}${i.listenPort === undefined ? '' : `, listen port ${i.listenPort}`}`,
  ];
  for (const p of config.peers) {
    lines.push(`peer: ${encodeKey(p.publicKey)}${p.presharedKey ? ' (preshared key)' : ''}`);
    if (p.endpoint) lines.push(`  endpoint: ${p.endpoint.address}:${p.endpoint.port}`);
    lines.push(
      `  allowed ips: ${p.allowedIPs.map((a) => `${formatIPv4(a.address)}/${a.prefix}`).join(', ') || '(none)'}`,
    );
    if (p.persistentKeepalive) lines.push(`  persistent keepalive: every ${p.persistentKeepalive} s`);
  }
  if (config.hosts.length > 0)
    lines.push(`hosts: ${config.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** Reads a configuration file with a clear error. */
function readConfigFile(path: string, option = ''): string {
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_CONFIG) throw new UsageError(`${option}${path}: larger than ${MAX_CONFIG} bytes`);
    return bytes.toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${option}${path}: ${(error as Error).message}`);
  }
}

const cidrText = (c: Cidr4): string => `${formatIPv4(c.address)}/${c.prefix}`;

/** `ADDR:PORT` of `--tcplisten`, as wasmtime takes it (IPv4 here). */
function checkListen(spec: string): string {
  const colon = spec.lastIndexOf(':');
  const port = Number(spec.slice(colon + 1));
  if (
    colon < 0 ||
    parseIPv4(spec.slice(0, colon)) === undefined ||
    !/^\d{1,5}$/.test(spec.slice(colon + 1)) ||
    port > 65535
  )
    throw new UsageError(`--tcplisten ${spec}: expected ADDRESS:PORT, e.g. 0.0.0.0:8080`);
  return spec;
}

/**
 * `--net wg.conf` and `--tcplisten`: the measured network configuration and, apart from it, the
 * keys (the private key and preshared keys are provisioned at launch, never measured).
 */
export function netRunConfig(
  path: string | undefined,
  tcpListen: readonly string[],
): { config: NetConfig; secrets: NetSecrets } | undefined {
  if (path === undefined) {
    if (tcpListen.length > 0) throw new UsageError('--tcplisten needs --net wg.conf (the enclave network)');
    return undefined;
  }
  let parsed;
  try {
    parsed = parseWgConfig(readConfigFile(path, '--net '));
  } catch (error) {
    if (error instanceof WgConfigError) throw new UsageError(`--net ${path}: ${error.message}`);
    throw error;
  }
  const i = parsed.interface;
  return {
    config: {
      addresses: i.addresses.map(cidrText),
      mtu: i.mtu,
      ...(i.listenPort !== undefined && { listenPort: i.listenPort }),
      generateKey: i.privateKey === 'generate',
      peers: parsed.peers.map((p) => ({
        publicKey: encodeKey(p.publicKey),
        presharedKey: p.presharedKey !== undefined,
        ...(p.endpoint && { endpoint: `${p.endpoint.address}:${p.endpoint.port}` }),
        allowedIPs: p.allowedIPs.map(cidrText),
        ...(p.persistentKeepalive !== undefined && { persistentKeepalive: p.persistentKeepalive }),
      })),
      tcpListen: tcpListen.map(checkListen),
      ...(parsed.hosts.length > 0 && { hosts: parsed.hosts }),
    },
    secrets: {
      ...(i.privateKey !== 'generate' && { privateKey: i.privateKey }),
      presharedKeys: parsed.peers.map((p) => p.presharedKey),
    },
  };
}

export function registerNetCommands(program: Command): void {
  const net = program.command('net').description('WireGuard keys and configurations for the enclave network');
  net
    .command('keygen')
    .description('print a new WireGuard private key (base64), as `wg genkey` does')
    .action(() => {
      process.stdout.write(`${encodeKey(generatePrivateKey())}\n`);
    });
  net
    .command('pubkey')
    .description('read a private key on standard input, print its public key, as `wg pubkey` does')
    .action(() => {
      process.stdout.write(`${publicKeyOf(readStdin(4096))}\n`);
    });
  net
    .command('check')
    .argument('<wg.conf>', 'a WireGuard configuration in wg-quick format')
    .description('check a configuration strictly and summarise it (keys, addresses, peers)')
    .action((path: string) => {
      const text = readConfigFile(path);
      try {
        process.stdout.write(describeWgConfig(text));
      } catch (error) {
        if (error instanceof WgConfigError) throw new UsageError(`${path}: ${error.message}`);
        throw error;
      }
    });
}
