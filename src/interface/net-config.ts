/**
 * The measured part of `--net wg.conf` and `--tcplisten`: the tunnel's addresses, MTU, UDP port and
 * peers, and the preopened listeners. The interface's private key and the peers' preshared keys are
 * secrets, provisioned at launch (EnclaveSecrets.net) and not measured; `generateKey` says the key
 * is made inside the enclave instead (`PrivateKey = generate`), which the measurement does pin.
 */
export interface NetConfig {
  /** The interface's addresses, `a.b.c.d/prefix`; the first is lwIP's. */
  addresses: string[];
  mtu: number;
  /** The host's UDP port (wg's ListenPort); absent: any free port. */
  listenPort?: number;
  generateKey: boolean;
  peers: NetPeerConfig[];
  /** `--tcplisten ADDR:PORT`, preopened as descriptors 3, 4, ... in this order, as wasmtime does. */
  tcpListen: string[];
  /** wg.conf's `[Hosts]`: names the enclave resolves itself (absent: none; numeric addresses only). */
  hosts?: { name: string; address: string }[];
}

export interface NetPeerConfig {
  /** Base64, as in wg.conf. */
  publicKey: string;
  /** A preshared key is provisioned for this peer (the key itself is a secret). */
  presharedKey: boolean;
  /** `a.b.c.d:port`. */
  endpoint?: string;
  allowedIPs: string[];
  persistentKeepalive?: number;
}

/** The keys of `--net` (not measured). */
export interface NetSecrets {
  /** 32 bytes; absent when the enclave generates its key. */
  privateKey?: Uint8Array;
  /** Per peer, in order: its preshared key or undefined. */
  presharedKeys: (Uint8Array | undefined)[];
}
