// The smart-grid fault detection job in enclaves equals DuckDB's answer to the same query on seeded data.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateGrid, writeGrid } from '../../examples/smartgrid-data.ts';
import { runJob } from '../../src/dataflow/host/run-job.ts';
import { openOutput, sealDirectory } from '../../src/dataflow/owner.ts';
import { examples, scratch } from './helpers.ts';

const s = scratch();
after(() => s.cleanup());

/**
 * Faults per customer by DuckDB, over the same CSV files the job reads sealed: the issue's query
 * written as SQL (drop customers without a location, join DSM by service area, join the faults in
 * the date window, `hh:mm:ss` to seconds, count and sum per customer).
 */
async function sqlOracle(dir: string, from: string, to: string): Promise<Map<string, [number, number]>> {
  const db = await DuckDBInstance.create(':memory:');
  const sql = await db.connect();
  try {
    const csv = (name: string, columns: Record<string, string>) =>
      `read_csv('${join(dir, `${name}.csv`)}', header = false, delim = ',', columns = ${JSON.stringify(columns).replaceAll('"', "'")})`;
    const reader = await sql.runAndReadAll(
      `WITH customer AS (SELECT * FROM ${csv('customers', {
        id: 'VARCHAR',
        meterHash: 'VARCHAR',
        type: 'VARCHAR',
        local: 'VARCHAR',
        contract: 'VARCHAR',
        meter: 'VARCHAR',
        model: 'VARCHAR',
        client: 'VARCHAR',
        lat: 'DOUBLE',
        lon: 'DOUBLE',
      })}),
      dsm AS (SELECT * FROM ${csv('dsm', { local: 'VARCHAR', name: 'VARCHAR' })}),
      faults AS (SELECT * FROM ${csv('faults', {
        id: 'VARCHAR',
        customer_id: 'VARCHAR',
        date: 'DATE',
        time: 'TIME',
        length_time: 'INTERVAL',
      })})
      SELECT c.id, count(*) AS n, sum(epoch(f.length_time))::BIGINT AS secs
      FROM customer c
        JOIN dsm d ON d.local = c.local
        JOIN faults f ON f.customer_id = c.id
      WHERE c.lat <> 0 AND c.lon <> 0 AND f.date BETWEEN $from AND $to
      GROUP BY c.id`,
      { from, to },
    );
    return new Map(reader.getRows().map(([id, n, secs]) => [String(id), [Number(n), Number(secs)]] as const));
  } finally {
    sql.closeSync();
    db.closeSync();
  }
}

describe('smart-grid fault detection', () => {
  it('equals DuckDB (the SQL oracle)', async () => {
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
    const expected = await sqlOracle(s.path('grid'), '2024-03-01', '2024-05-31');
    assert.ok(expected.size > 100, `a real result (${expected.size} customers)`);
    assert.deepEqual(got, expected);
  });
});
