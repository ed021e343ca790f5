// Why a heap snapshot holds a string: prints, for every string node that contains NEEDLE, the
// shortest chain of strong edges from the GC roots to it (weak edges skipped). Used to find what
// kept the canary of test/partition/fixtures/target-evidence.mjs alive.
//
//   node --max-old-space-size=4096 scripts/heap-retainers.mjs FILE.heapsnapshot NEEDLE
//
// Only flat strings carry their text in a snapshot (a concatenation is "(concatenated string)"),
// which is also all a byte search of the file can find.
import { readFileSync } from 'node:fs';

const [file, needle] = process.argv.slice(2);
if (file === undefined || !needle) {
  console.error('usage: heap-retainers.mjs FILE.heapsnapshot NEEDLE');
  process.exit(2);
}
const { snapshot, nodes, edges, strings } = JSON.parse(readFileSync(file, 'utf8'));
const {
  node_fields: nodeFields,
  edge_fields: edgeFields,
  node_types: nodeTypes,
  edge_types: edgeTypes,
} = snapshot.meta;
const NF = nodeFields.length;
const EF = edgeFields.length;
const [nType, nName, nId, nEdges] = ['type', 'name', 'id', 'edge_count'].map((f) => nodeFields.indexOf(f));
const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => edgeFields.indexOf(f));
const nodeType = nodeTypes[nType];
const edgeType = edgeTypes[eType];
const count = nodes.length / NF;

// Each node's first edge, then every edge by the node it points to.
const firstEdge = new Uint32Array(count + 1);
for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * NF + nEdges] * EF;
const intoStart = new Uint32Array(count + 1);
for (let e = 0; e < edges.length; e += EF) intoStart[edges[e + eTo] / NF + 1]++;
for (let i = 0; i < count; i++) intoStart[i + 1] += intoStart[i];
const intoFrom = new Uint32Array(edges.length / EF);
const intoEdge = new Uint32Array(edges.length / EF);
const next = intoStart.slice();
for (let i = 0; i < count; i++)
  for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
    const to = edges[e + eTo] / NF;
    intoFrom[next[to]] = i;
    intoEdge[next[to]++] = e;
  }

const describe = (i) =>
  `${nodeType[nodes[i * NF + nType]]} ${JSON.stringify(String(strings[nodes[i * NF + nName]]).slice(0, 80))} @${nodes[i * NF + nId]}`;
const label = (e) => {
  const type = edgeType[edges[e + eType]];
  const name = edges[e + eName];
  return type === 'element' || type === 'hidden'
    ? `${type}[${name}]`
    : `${type} ${JSON.stringify(strings[name])}`;
};

const targets = [];
for (let i = 0; i < count; i++) {
  const name = strings[nodes[i * NF + nName]];
  if (nodeType[nodes[i * NF + nType]].includes('string') && name.includes(needle)) targets.push(i);
}
console.log(`${targets.length} string node(s) contain ${JSON.stringify(needle)}`);
for (const target of targets) {
  console.log(`\n${describe(target)}`);
  // Breadth first from the string back to the root (node 0): the first path found is a shortest.
  const towardTarget = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  towardTarget[target] = target;
  const queue = [target];
  for (let q = 0; q < queue.length && towardTarget[0] === -1; q++) {
    const i = queue[q];
    for (let r = intoStart[i]; r < intoStart[i + 1]; r++) {
      const from = intoFrom[r];
      if (edgeType[edges[intoEdge[r] + eType]] === 'weak' || towardTarget[from] !== -1) continue;
      towardTarget[from] = i;
      via[from] = intoEdge[r];
      queue.push(from);
    }
  }
  if (towardTarget[0] === -1) {
    console.log('  not reachable from the roots over strong edges');
    continue;
  }
  let depth = 1;
  for (let i = 0; i !== target; i = towardTarget[i], depth++)
    console.log(`${'  '.repeat(depth)}${describe(i)} --${label(via[i])}-->`);
  console.log(`${'  '.repeat(depth)}${describe(target)}`);
}
