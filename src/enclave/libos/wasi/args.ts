/** `args_get`, `args_sizes_get`, `environ_get`, `environ_sizes_get`. */
import type { StringList, WasiContext } from '../context.ts';

function sizes(ctx: WasiContext, list: StringList, countPtr: number, bufSizePtr: number): number {
  const v = ctx.memory.view();
  v.setUint32(countPtr, list.strings.length, true);
  v.setUint32(bufSizePtr, list.bufferSize, true);
  return 0;
}

function get(ctx: WasiContext, list: StringList, pointersPtr: number, bufPtr: number): number {
  let at = bufPtr;
  list.strings.forEach((s, i) => {
    ctx.memory.view().setUint32(pointersPtr + 4 * i, at, true);
    ctx.memory.slice(at, s.length).set(s);
    at += s.length;
  });
  return 0;
}

export function args_sizes_get(ctx: WasiContext, argcPtr: number, bufSizePtr: number): number {
  return sizes(ctx, ctx.args, argcPtr, bufSizePtr);
}

export function args_get(ctx: WasiContext, argvPtr: number, bufPtr: number): number {
  return get(ctx, ctx.args, argvPtr, bufPtr);
}

export function environ_sizes_get(ctx: WasiContext, countPtr: number, bufSizePtr: number): number {
  return sizes(ctx, ctx.env, countPtr, bufSizePtr);
}

export function environ_get(ctx: WasiContext, environPtr: number, bufPtr: number): number {
  return get(ctx, ctx.env, environPtr, bufPtr);
}
