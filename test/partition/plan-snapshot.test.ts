// The analysis and the plan of two fixture programs (a forge-like CommonJS namespace library with
// callbacks and computed keys; TypeScript classes, interfaces, overrides, a declassification) are
// exactly as recorded: every node, flow edge (in order), call, place where precision was given up,
// both slices, how each forward node was reached, the plan and its interface file. A speed-up of the
// analysis must leave all of it unchanged. After a deliberate change to the analysis, rewrite the
// record with CLOISTER_UPDATE_SNAPSHOT=1 and review its diff.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { analyze, type Analysis } from '../../src/partition/analyze.ts';
import { planPartition } from '../../src/partition/plan.ts';

const fixtures = join(import.meta.dirname, 'fixtures', 'plan-snapshot');

function snapshot(a: Analysis): unknown {
  const plan = planPartition(a);
  const { graph, slices } = a;
  return {
    nodes: [...graph.nodes.values()].map((n) =>
      [n.id, n.kind, n.owner ?? '', n.functionTyped, `${n.file}:${n.line}`].join(' | '),
    ),
    edges: graph.edges.map((e) => `${e.from} -> ${e.to} | ${e.site} | ${e.file}:${e.line} | ${e.why}`),
    functions: [...graph.functions.values()].map((f) => ({
      ...f,
      touches: [...f.touches],
      writes: [...f.writes],
    })),
    calls: graph.calls,
    precisionLoss: graph.precisionLoss,
    forward: [...slices.forward],
    backward: [...slices.backward],
    reachedBy: [...slices.reachedBy].map(([id, how]) =>
      'source' in how ? `${id} <= ${how.source}` : `${id} <= ${how.from} (${how.file}:${how.line})`,
    ),
    sees: [...slices.sees],
    affects: [...slices.affects],
    enclave: [...plan.enclave],
    state: plan.state,
    interface: plan.interface,
    metrics: plan.metrics,
  };
}

describe('partition analysis and plan of the fixture programs are unchanged', () => {
  for (const name of ['js', 'ts']) {
    it(`${name} fixture`, () => {
      const got = JSON.parse(JSON.stringify(snapshot(analyze(join(fixtures, name))))) as unknown;
      const recorded = join(fixtures, `${name}.snapshot.json`);
      if (process.env.CLOISTER_UPDATE_SNAPSHOT === '1')
        writeFileSync(recorded, `${JSON.stringify(got, null, 1)}\n`);
      assert.deepEqual(got, JSON.parse(readFileSync(recorded, 'utf8')));
    });
  }
});
