/**
 * Which seeds reach each node of a directed graph, for many seeds at once: the graph's strongly
 * connected components (every node of one reaches the same seeds) are visited in topological order
 * and each passes its set of seeds, a bitset, along its edges. One pass over the edges instead of
 * one walk per seed (the partitioner asks this for every function value of the application).
 */

export interface SeedReach {
  /** The indices (into `seeds`, ascending) of the seeds from which `id` is reachable. */
  seedsAt(id: string): number[];
  /** Σ over nodes of the seeds reaching each: the steps a separate walk from every seed would take. */
  visits: number;
}

export function reachingSeeds(
  seeds: readonly string[],
  successors: (id: string) => readonly { to: string }[],
): SeedReach {
  // The nodes some seed reaches, numbered.
  const index = new Map<string, number>();
  const ids: string[] = [];
  const number = (id: string): void => {
    if (index.has(id)) return;
    index.set(id, ids.length);
    ids.push(id);
  };
  for (const s of seeds) number(s);
  for (let i = 0; i < ids.length; i++) for (const e of successors(ids[i])) number(e.to);
  const succ = ids.map((id) => successors(id).map((e) => index.get(e.to) ?? -1));

  // Tarjan's algorithm, iterative: components come out sinks first.
  const n = ids.length;
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const component = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  const members: number[][] = [];
  let next = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    order[root] = low[root] = next++;
    stack.push(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const v = frame[0];
      if (frame[1] < succ[v].length) {
        const w = succ[v][frame[1]++];
        if (order[w] === -1) {
          order[w] = low[w] = next++;
          stack.push(w);
          work.push([w, 0]);
        } else if (component[w] === -1) low[v] = Math.min(low[v], order[w]);
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low[parent] = Math.min(low[parent], low[v]);
      }
      if (low[v] === order[v]) {
        const scc: number[] = [];
        let w: number;
        do {
          w = stack.pop() ?? v;
          component[w] = members.length;
          scc.push(w);
        } while (w !== v);
        members.push(scc);
      }
    }
  }

  // Seed sets per component, passed along the edges in topological order (sources first).
  const words = Math.ceil(seeds.length / 32);
  const bits = new Uint32Array(members.length * words);
  seeds.forEach((s, k) => {
    const c = component[index.get(s) ?? 0];
    bits[c * words + (k >>> 5)] |= 1 << (k & 31);
  });
  let visits = 0;
  for (let c = members.length - 1; c >= 0; c--) {
    const own = c * words;
    let count = 0;
    for (let k = 0; k < words; k++) count += popcount(bits[own + k]);
    visits += count * members[c].length;
    for (const v of members[c]) {
      for (const w of succ[v]) {
        const d = component[w];
        if (d === c) continue;
        const to = d * words;
        for (let k = 0; k < words; k++) bits[to + k] |= bits[own + k];
      }
    }
  }

  return {
    visits,
    seedsAt(id: string): number[] {
      const v = index.get(id);
      if (v === undefined) return [];
      const at = component[v] * words;
      const out: number[] = [];
      for (let k = 0; k < words; k++) {
        for (let word = bits[at + k]; word !== 0; word &= word - 1)
          out.push(k * 32 + (31 - Math.clz32(word & -word)));
      }
      return out;
    },
  };
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}
