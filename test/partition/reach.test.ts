// Which seeds reach each node (src/partition/reach.ts) against a plain walk from every seed, on
// graphs with cycles, self-reaching seeds, nodes no seed reaches and more than 32 seeds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reachingSeeds } from '../../src/partition/reach.ts';

type Graph = Map<string, { to: string }[]>;

function walkFromEach(seeds: string[], graph: Graph): { at: Map<string, number[]>; visits: number } {
  const at = new Map<string, number[]>();
  let visits = 0;
  seeds.forEach((s, k) => {
    const seen = new Set([s]);
    const queue = [s];
    for (let i = 0; i < queue.length; i++) {
      visits++;
      at.set(queue[i], [...(at.get(queue[i]) ?? []), k]);
      for (const e of graph.get(queue[i]) ?? []) {
        if (seen.has(e.to)) continue;
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  });
  return { at, visits };
}

/** A deterministic pseudo-random graph (xorshift), so a failure can be replayed. */
function randomGraph(nodes: number, edges: number, seed: number): Graph {
  let x = seed;
  const rand = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const graph: Graph = new Map();
  for (let i = 0; i < edges; i++) {
    const from = `n${rand(nodes)}`;
    const to = `n${rand(nodes)}`;
    if (from === to || graph.get(from)?.some((e) => e.to === to)) continue;
    graph.set(from, [...(graph.get(from) ?? []), { to }]);
  }
  return graph;
}

describe('seeds reaching each node', () => {
  it('a cycle through two seeds: both reach every node of it and what follows', () => {
    const graph: Graph = new Map([
      ['a', [{ to: 'b' }]],
      ['b', [{ to: 'c' }]],
      ['c', [{ to: 'a' }, { to: 'd' }]],
      ['x', [{ to: 'a' }]],
    ]);
    const r = reachingSeeds(['a', 'c', 'd'], (id) => graph.get(id) ?? []);
    assert.deepEqual(r.seedsAt('b'), [0, 1]);
    assert.deepEqual(r.seedsAt('d'), [0, 1, 2]);
    assert.deepEqual(r.seedsAt('x'), [], 'no seed reaches x');
    assert.deepEqual(r.seedsAt('nowhere'), []);
    assert.equal(r.visits, 4 + 4 + 1);
  });

  it('matches a walk from every seed on random graphs (up to 70 seeds)', () => {
    for (let trial = 1; trial <= 30; trial++) {
      const nodes = 20 + trial * 7;
      const graph = randomGraph(nodes, nodes * (1 + (trial % 4)), trial * 7919);
      const seeds = Array.from({ length: Math.min(70, nodes) }, (_, i) => `n${(i * 13) % nodes}`).filter(
        (s, i, all) => all.indexOf(s) === i,
      );
      const want = walkFromEach(seeds, graph);
      const got = reachingSeeds(seeds, (id) => graph.get(id) ?? []);
      assert.equal(got.visits, want.visits, `trial ${trial}: visits`);
      for (let i = 0; i < nodes; i++)
        assert.deepEqual(got.seedsAt(`n${i}`), want.at.get(`n${i}`) ?? [], `trial ${trial}: n${i}`);
    }
  });
});
