/**
 * Brings up the enclave's network for a run with `--net`: the WireGuard device with the measured
 * peers and the provisioned (or generated) key, lwIP on the tunnel's address, the datagram calls to
 * the host, and the `--tcplisten` listeners as descriptors for the program.
 */
import { Errno, WasiError } from '../../interface/errno.ts';
import type { NetConfig, NetSecrets } from '../../interface/net-config.ts';
import type { ClockSource } from '../../interface/services.ts';
import type { HostChannel } from '../ring/channel.ts';
import { RingDatagrams, type DatagramPort } from './host-datagrams.ts';
import { parseCidr4, parseIPv4, formatIPv4 } from './ipv4.ts';
import { HostTable } from './hosts.ts';
import { NetStack } from './netstack.ts';
import { TcpListenerFd } from './socket-fd.ts';
import { decodeKey, generatePrivateKey } from './wireguard/crypto.ts';
import type { PeerConfig } from './wireguard/device.ts';

export interface Network {
  net: NetStack;
  /** The `--tcplisten` listeners, in order. */
  listeners: TcpListenerFd[];
  /** The interface's public key (the one to give peers; with `generate`, made here). */
  publicKey: Uint8Array;
  port: DatagramPort;
}

function invalid(message: string): WasiError {
  return new WasiError(Errno.INVAL, `--net: ${message}`);
}

/** `a.b.c.d:port` with a port of 1..65535 (0 for a listener means any). */
export function parseHostPort(text: string, allowZero = false): { address: string; port: number } {
  const colon = text.lastIndexOf(':');
  const address = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (colon < 0 || parseIPv4(address) === undefined || !(port >= (allowZero ? 0 : 1) && port <= 65535))
    throw invalid(`${JSON.stringify(text)} is not ADDRESS:PORT (IPv4)`);
  return { address, port };
}

function peerOf(config: NetConfig['peers'][number], psk: Uint8Array | undefined): PeerConfig {
  const publicKey = decodeKey(config.publicKey);
  if (!publicKey) throw invalid(`peer key ${JSON.stringify(config.publicKey)} is not a key`);
  if (config.presharedKey !== (psk !== undefined))
    throw invalid('the preshared keys provisioned do not match the measured configuration');
  return {
    publicKey,
    presharedKey: psk,
    endpoint: config.endpoint === undefined ? undefined : parseHostPort(config.endpoint),
    allowedIPs: config.allowedIPs.map((text) => {
      const cidr = parseCidr4(text);
      if (!cidr) throw invalid(`allowed IPs ${JSON.stringify(text)}`);
      return cidr;
    }),
    persistentKeepalive: config.persistentKeepalive,
  };
}

export function startNetwork(options: {
  config: NetConfig;
  secrets: NetSecrets | undefined;
  channel: HostChannel;
  clock: ClockSource;
  lwip: Uint8Array;
  /** For tests: datagrams through something else than the ring. */
  port?: DatagramPort;
}): Network {
  const { config, secrets, clock } = options;
  let privateKey: Uint8Array;
  if (config.generateKey) {
    if (secrets?.privateKey)
      throw invalid('a private key was provisioned, but the configuration says generate');
    privateKey = generatePrivateKey();
  } else {
    if (secrets?.privateKey?.length !== 32) throw invalid('no private key was provisioned');
    privateKey = secrets.privateKey;
  }
  const first = parseCidr4(config.addresses[0] ?? '');
  if (!first) throw invalid('the interface has no IPv4 address');
  const psks = secrets?.presharedKeys ?? [];
  if (psks.length > config.peers.length) throw invalid('more preshared keys than peers');
  const peers = config.peers.map((p, i) => peerOf(p, psks[i]));
  let hosts: HostTable;
  try {
    hosts = new HostTable(config.hosts ?? []);
  } catch (error) {
    throw invalid((error as Error).message);
  }
  const port = options.port ?? new RingDatagrams(options.channel);
  const net = new NetStack({
    lwip: options.lwip,
    privateKey,
    peers,
    address: formatIPv4(first.address),
    prefix: first.prefix,
    mtu: config.mtu,
    port,
    hosts,
    clock: {
      nowMs: () => Number(clock.monotonicNs()) / 1e6,
      wallMs: () => Number(clock.realtimeNs() / 1_000_000n),
    },
  });
  const listeners = config.tcpListen.map((spec) => {
    const { address, port: listenPort } = parseHostPort(spec, true);
    const id = net.listen(address, listenPort);
    return new TcpListenerFd(net, id, 0, { address, port: net.stack.tcpLocalPort(id) });
  });
  return { net, listeners, publicKey: net.device.publicKey, port };
}
