// The call table's codecs at both ends: requests a hostile or broken enclave could send (the host
// decodes them), replies a hostile host could send (the enclave decodes them), and the server that
// puts a table and its handlers together.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serveCalls, failure, type HostHandlers } from '../../src/host/calls/serve.ts';
import type { Request, Response } from '../../src/host/ring-server.ts';
import { encodeStat, STAT_BYTES, WireError, encodeDirEntries } from '../../src/interface/codec.ts';
import {
  Calls,
  JsAppCalls,
  SHIELDED_AREAS,
  callsById,
  type AnyCallDef,
  type ArgsOf,
} from '../../src/interface/calls.ts';
import { Errno } from '../../src/interface/errno.ts';
import { FileType, type HostStat } from '../../src/interface/services.ts';

const stat = (filetype: number, ino = 7n): HostStat => ({
  filetype,
  dev: 1n,
  ino,
  nlink: 1n,
  size: 0n,
  atimNs: 0n,
  mtimNs: 0n,
  ctimNs: 0n,
});
const statBytes = (s: HostStat): Uint8Array => {
  const out = new Uint8Array(STAT_BYTES);
  encodeStat(s, out);
  return out;
};

/** What the host decodes from the wire form the enclave's codec made of `a`. */
function roundTrip<D extends AnyCallDef>(def: D, a: ArgsOf<D>): ArgsOf<D> {
  const wire = def.args.encode(a);
  return def.args.decode(wire.args, wire.payload ?? new Uint8Array(0)) as ArgsOf<D>;
}

describe('the call table', () => {
  it('gives every call of both enclave kinds its own id and name', () => {
    const all = [...Object.values(Calls), ...Object.values(JsAppCalls)] as AnyCallDef[];
    assert.equal(new Set(all.map((c) => c.id)).size, all.length);
    assert.equal(new Set(all.map((c) => c.name)).size, all.length);
    assert.equal(callsById.size, all.length);
  });

  it('keeps the shielded path to at most 8 calls', () => {
    const shielded = (Object.values(Calls) as AnyCallDef[]).filter((c) => SHIELDED_AREAS.includes(c.area));
    assert.ok(shielded.length <= 8, shielded.map((c) => c.name).join(', '));
  });

  it('carries arguments across unchanged', () => {
    const held = { dev: 2n ** 64n - 1n, ino: 5n };
    assert.deepEqual(roundTrip(Calls.dirLookup, { dir: 3, name: 'é', held }), { dir: 3, name: 'é', held });
    assert.deepEqual(roundTrip(Calls.dirLookup, { dir: 3, name: 'a', held: null }), {
      dir: 3,
      name: 'a',
      held: null,
    });
    const rename = { fromDir: 1, from: 'a', toDir: 2, to: 'b' };
    assert.deepEqual(roundTrip(Calls.dirRename, rename), rename);
    assert.deepEqual(roundTrip(Calls.dirSymlink, { target: '../x', dir: 4, name: 'l' }), {
      target: '../x',
      dir: 4,
      name: 'l',
    });
    assert.deepEqual(roundTrip(Calls.fileUtimes, { handle: 9, atimNs: null, mtimNs: 5n }), {
      handle: 9,
      atimNs: null,
      mtimNs: 5n,
    });
    const data = Uint8Array.of(1, 2);
    assert.deepEqual(roundTrip(Calls.blockWrite, { device: 0, offset: 4096n, sync: true, data }), {
      device: 0,
      offset: 4096n,
      sync: true,
      data,
    });
  });

  it('refuses malformed requests on the host', () => {
    const empty = new Uint8Array(0);
    for (const bad of [-1n, 2n ** 32n]) {
      assert.throws(() => Calls.fileClose.args.decode([bad], empty), WireError);
    }
    assert.throws(() => Calls.fileSync.args.decode([1n, 2n], empty), WireError);
    assert.throws(() => Calls.dirMkdir.args.decode([1n], Uint8Array.of(0xff, 0xfe)), WireError);
    const three = new TextEncoder().encode('a\0b\0c');
    assert.throws(() => Calls.dirRename.args.decode([1n, 1n], three), WireError);
  });

  it('refuses replies that do not make sense for the call in the enclave', () => {
    const none = new Uint8Array(0);
    for (const handle of [0n, -1n, 2n ** 31n])
      assert.throws(() => Calls.dirRoot.reply.decode(handle, none, { mount: 0 }), WireError);
    assert.equal(Calls.dirRoot.reply.decode(2n ** 31n - 1n, none, { mount: 0 }), 2 ** 31 - 1);
    assert.throws(
      () => Calls.filePwrite.reply.decode(-1n, none, { handle: 1, offset: 0n, data: none }),
      WireError,
    );

    const stdin = { max: 10, timeoutNs: 0n };
    assert.throws(() => Calls.stdinRead.reply.decode(0n, Uint8Array.of(1), stdin), WireError);
    assert.throws(() => Calls.stdinRead.reply.decode(2n, none, stdin), WireError);
    assert.deepEqual(Calls.stdinRead.reply.decode(1n, none, stdin), { ready: true, data: none });

    const held = { dev: 1n, ino: 7n };
    const lookup = (result: bigint, s: HostStat, h: typeof held | null) =>
      Calls.dirLookup.reply.decode(result, statBytes(s), { dir: 1, name: 'x', held: h });
    assert.throws(() => lookup(5n, stat(FileType.REGULAR_FILE), null), WireError, 'a handle for a file');
    assert.throws(() => lookup(0n, stat(FileType.DIRECTORY), null), WireError, 'a directory without one');
    assert.throws(() => lookup(0n, stat(FileType.DIRECTORY, 8n), held), WireError, 'not the held one');
    assert.equal(lookup(0n, stat(FileType.DIRECTORY), held).dir, null);
    assert.equal(lookup(5n, stat(FileType.DIRECTORY), null).dir, 5);
    assert.throws(() => lookup(0n, stat(9), null), WireError, 'a file type beyond WASI');
    assert.throws(
      () => Calls.dirStat.reply.decode(0n, statBytes(stat(1)).subarray(1), { dir: 1 }),
      WireError,
      'a truncated stat',
    );

    const listing = new Uint8Array(256);
    const entries = ['a', 'b', 'c'].map((name, i) => ({
      name,
      ino: BigInt(i),
      filetype: FileType.REGULAR_FILE,
    }));
    const [length] = encodeDirEntries(entries, listing);
    const readdir = (result: bigint, max: number) =>
      Calls.dirReaddir.reply.decode(result, listing.subarray(0, length), { dir: 1, start: 0, max });
    assert.equal(readdir(1n, 3).entries.length, 3);
    assert.throws(() => readdir(1n, 2), WireError, 'more entries than asked for');
    assert.throws(() => readdir(2n, 3), WireError, 'an end flag of 2');

    const link = (bytes: Uint8Array) => Calls.dirReadlink.reply.decode(0n, bytes, { dir: 1, name: 'l' });
    assert.equal(link(new TextEncoder().encode('../t')), '../t');
    assert.throws(() => link(new TextEncoder().encode('a\0b')), WireError);
    assert.throws(() => link(Uint8Array.of(0xc3)), WireError);
  });
});

describe('the server of a table', () => {
  const table = { fileClose: Calls.fileClose, filePread: Calls.filePread };
  const closed: number[] = [];
  const handlers: HostHandlers<typeof table> = {
    fileClose: ({ handle }) => {
      if (handle !== 1) throw failure('EBADF', 'bad handle');
      closed.push(handle);
    },
    filePread: ({ length }, out) => {
      out.fill(7, 0, Math.min(length, out.length));
      return Math.min(length, out.length);
    },
  };
  const serve = serveCalls(table, handlers);
  const request = (callId: number, args: bigint[], replyLimit = 0): [Response, Uint8Array] => {
    const data = new Uint8Array(64);
    const req: Request = { callId, seq: 0, args, payload: new Uint8Array(0), replyLimit, data };
    return [serve(req), data];
  };

  it('runs the handler with the decoded arguments and encodes its reply', () => {
    assert.deepEqual(request(Calls.fileClose.id, [1n])[0], {
      errno: Errno.SUCCESS,
      result: undefined,
      replyLength: undefined,
    });
    assert.deepEqual(closed, [1]);
    const [read, data] = request(Calls.filePread.id, [1n, 0n, 100n], 16);
    assert.equal(read.replyLength, 16, 'never more than the reply limit');
    assert.deepEqual([...data.subarray(0, 17)], [...new Array(16).fill(7), 0]);
  });

  it('answers a host error with its errno, a malformed request with EINVAL, an id it lacks with NOSYS', () => {
    assert.equal(request(Calls.fileClose.id, [2n])[0].errno, Errno.BADF);
    assert.equal(request(Calls.fileClose.id, [-5n])[0].errno, Errno.INVAL);
    assert.equal(request(Calls.exit.id, [0n])[0].errno, Errno.NOSYS);
    assert.equal(request(-1, [])[0].errno, Errno.NOSYS);
  });

  it('does not compile without a handler for every call', () => {
    // @ts-expect-error fileClose has no handler
    const partial: HostHandlers<typeof table> = { filePread: handlers.filePread };
    assert.equal(typeof partial.filePread, 'function');
  });
});
