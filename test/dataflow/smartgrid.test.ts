// The smart-grid fault detection job equals an independent plain-JS computation on seeded data.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { generateGrid, writeGrid, type GridData } from '../../examples/smartgrid-data.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput, sealDirectory } from '../../src/dataflow/owner.ts';
import { examples, scratch } from './helpers.ts';

const s = scratch();
after(() => s.cleanup());

/** Faults per customer the plain way: loops and a Map. */
function oracle(data: GridData, from: string, to: string): Map<string, [number, number]> {
  const areas = new Set(data.dsm.map((l) => l.split(',')[0]));
  const located = new Set<string>();
  for (const line of data.customers) {
    const c = line.split(',');
    if (parseFloat(c[8]) !== 0 && parseFloat(c[9]) !== 0 && areas.has(c[3])) located.add(c[0]);
  }
  const result = new Map<string, [number, number]>();
  for (const line of data.faults) {
    const [, customer, date, , length] = line.split(',');
    if (date < from || date > to || !located.has(customer)) continue;
    const [h, m, sec] = length.split(':');
    const entry = result.get(customer) ?? [0, 0];
    entry[0] += 1;
    entry[1] += parseInt(h, 10) * 3600 + parseInt(m, 10) * 60 + parseInt(sec, 10);
    result.set(customer, entry);
  }
  return result;
}

describe('smart-grid fault detection', () => {
  it('equals the plain-JS oracle', async () => {
    const data = generateGrid(800, 7);
    assert.ok(
      data.customers.some((l) => l.endsWith(',0') || l.split(',')[8] === '0'),
      'some customers lack a location',
    );
    writeGrid(s.path('grid'), data);
    sealDirectory(s.path('grid'), s.path('grid.sealed'), s.key, {
      partBytes: 32 * 1024,
      blockBytes: 8 * 1024,
    });
    await runJob({
      jobFile: `${examples}smartgrid.ts`,
      master: 'local[2]',
      jobKey: s.key,
      platformPath: s.platform,
      args: [s.path('grid.sealed'), s.path('faults.out'), '2024-03-01', '2024-05-31'],
    });
    const opened = openOutput(s.path('faults.out'), s.key, {
      verifyManifest: true,
      inputs: s.path('grid.sealed'),
    });
    const got = new Map(opened.lines.map((l) => JSON.parse(l) as [string, [number, number]]));
    const expected = oracle(data, '2024-03-01', '2024-05-31');
    assert.ok(expected.size > 100, `a real result (${expected.size} customers)`);
    assert.deepEqual(got, expected);
  });
});
