/** Values as bytes for the wire and for host calls: JSON, with byte arrays as base64. */

export function encode(value: unknown): Uint8Array {
  // The holder's own value: a Buffer's toJSON has already run on `v`.
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const own = this[key];
    return own instanceof Uint8Array
      ? { $b64: Buffer.from(own.buffer, own.byteOffset, own.byteLength).toString('base64') }
      : v;
  });
  return Buffer.from(text, 'utf8');
}

export function decode<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString('utf8'), (_key, v: unknown) =>
    v !== null && typeof v === 'object' && typeof (v as { $b64?: unknown }).$b64 === 'string'
      ? new Uint8Array(Buffer.from((v as { $b64: string }).$b64, 'base64'))
      : v,
  ) as T;
}
