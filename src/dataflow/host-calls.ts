/**
 * The host calls a job enclave makes (`host.call(name, bytes)`): everything that crosses is a sealed
 * block, a sealed file, a block or file name, or routing metadata (plans, task records) — except the
 * job key in key-file development mode (DEV_JOB_KEY), which the host hands in.
 */
export const HostCall = {
  /** name (UTF-8) -> sealed block */
  blockGet: 'block-get',
  /** u32 BE name length, name, sealed block -> empty */
  blockPut: 'block-put',
  /** JSON names -> empty */
  blockRemove: 'block-remove',
  /** path (UTF-8) -> sealed input file */
  readFile: 'read-file',
  /** pattern (UTF-8) -> JSON paths: the files of a text RDD (job program only) */
  listFiles: 'list-files',
  /** {plan, template} -> the action's committed records and sealed results (job program only) */
  runAction: 'run-action',
  /** -> the job key, from the host: key-file development mode only */
  devJobKey: 'dev-job-key',
} as const;

const utf8 = new TextEncoder();

export function frameBlock(name: string, bytes: Uint8Array): Uint8Array {
  const n = utf8.encode(name);
  const out = new Uint8Array(4 + n.length + bytes.length);
  new DataView(out.buffer).setUint32(0, n.length);
  out.set(n, 4);
  out.set(bytes, 4 + n.length);
  return out;
}

export function unframeBlock(data: Uint8Array): { name: string; bytes: Uint8Array } {
  if (data.length < 4) throw new RangeError('block-put: truncated');
  const length = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  if (length > data.length - 4) throw new RangeError('block-put: name runs past the end');
  return {
    name: new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(4, 4 + length)),
    bytes: data.subarray(4 + length),
  };
}
