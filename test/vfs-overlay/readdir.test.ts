/** Merged listings: each visible name once, cookies that resume, removal while listing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FileType } from '../../src/interface/services.ts';
import { createOverlayFs, createTmpfs } from '../../src/enclave/vfs/index.ts';
import type { Inode } from '../../src/enclave/vfs/index.ts';
import { at, frozenTree, names } from './helpers/layers.ts';
import type { Tree } from './helpers/layers.ts';

const LOWER_NAMES = Array.from({ length: 30 }, (_, i) => `lower-${i}`);

/** A directory 'd' with 30 lower files, 2 of them whited out, 1 copied up, and 20 upper-only files. */
function mergedDir(): { root: Inode; d: Inode; expected: string[] } {
  const tree: Tree = { d: Object.fromEntries(LOWER_NAMES.map((n) => [n, n])) };
  const root = createOverlayFs(frozenTree(tree), createTmpfs()).root();
  const d = at(root, 'd');
  d.unlink('lower-3');
  d.unlink('lower-17');
  d.lookup('lower-5')!.open({ write: true, truncate: false }).close();
  for (let i = 0; i < 20; i++) d.createFile(`upper-${i}`, true);
  d.mkdir('lower-3');
  const expected = [
    ...LOWER_NAMES.filter((n) => n !== 'lower-17'),
    ...Array.from({ length: 20 }, (_, i) => `upper-${i}`),
  ];
  return { root, d, expected };
}

test('a merged directory lists upper and lower entries once each, whiteouts hidden, as upper has them', () => {
  const { d, expected } = mergedDir();
  const page = d.readdir(0, 1000);
  assert.equal(page.end, true);
  assert.deepEqual(page.entries.map((e) => e.name).sort(), expected.sort());
  const entry = (name: string) => page.entries.find((e) => e.name === name)!;
  assert.equal(entry('lower-3').filetype, FileType.DIRECTORY, 'a directory made over a whiteout');
  assert.equal(entry('lower-5').ino, d.lookup('lower-5')!.stat().ino, 'a copied-up file has its upper inode');
  assert.equal(entry('upper-0').filetype, FileType.REGULAR_FILE);
});

test('listing in pages of any size gives the same entries, resuming from any cookie', () => {
  const { d } = mergedDir();
  const all = d.readdir(0, 1000).entries;
  for (const size of [1, 2, 3, 7])
    assert.deepEqual(
      names(d, size),
      all.map((e) => e.name),
    );
  all.forEach((entry, i) => {
    const rest = d.readdir(entry.next, 1000);
    assert.deepEqual(
      rest.entries.map((e) => e.name),
      all.slice(i + 1).map((e) => e.name),
    );
    assert.equal(rest.end, true);
  });
});

test('removing entries while listing (as rm -r does) neither skips nor repeats the others', () => {
  for (const size of [1, 4]) {
    const { d, expected } = mergedDir();
    const seen: string[] = [];
    for (let cookie = 0; ;) {
      const page = d.readdir(cookie, size);
      for (const e of page.entries) {
        seen.push(e.name);
        // Remove every other entry as it is listed; and copy up one not yet listed.
        if (seen.length % 2 === 0) {
          if (e.filetype === FileType.DIRECTORY) d.rmdir(e.name);
          else d.unlink(e.name);
        }
        if (e.name === 'lower-20') d.lookup('lower-25')!.setTimes(1n, 1n);
        cookie = e.next;
      }
      if (page.end) break;
    }
    assert.deepEqual([...seen].sort(), [...expected].sort());
    assert.equal(names(d).length, expected.length - Math.floor(expected.length / 2));
  }
});

test('an opaque directory lists only upper entries; a lower-only one only lower entries', () => {
  const root = createOverlayFs(frozenTree({ a: { x: '1', y: '2' }, b: { z: '3' } }), createTmpfs()).root();
  const a = at(root, 'a');
  a.unlink('x');
  a.unlink('y');
  root.rmdir('a');
  root.mkdir('a').createFile('new', true);
  assert.deepEqual(names(at(root, 'a')), ['new']);
  assert.deepEqual(names(at(root, 'b')), ['z']);
  assert.deepEqual(names(root).sort(), ['a', 'b']);
  assert.deepEqual(at(root, 'b').readdir(1000, 10), { entries: [], end: true });
});

test('an open directory sees entries made after its copy-up through another lookup', () => {
  const root = createOverlayFs(frozenTree({ a: { x: '1' } }), createTmpfs()).root();
  const held = at(root, 'a');
  at(root, 'a').createFile('new', true);
  assert.deepEqual(names(held).sort(), ['new', 'x']);
  assert.notEqual(held.lookup('new'), null);
});
