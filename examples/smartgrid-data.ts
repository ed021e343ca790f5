// A seeded generator of the smart-grid schema, as CSV files: customers.csv, dsm.csv, faults.csv.
//   node --import tsx examples/smartgrid-data.ts OUTDIR [CUSTOMERS] [SEED]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GridData {
  customers: string[];
  dsm: string[];
  faults: string[];
}

export function generateGrid(customers: number, seed: number): GridData {
  const rand = prng(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const two = (n: number): string => String(n).padStart(2, '0');
  const locals = Math.max(4, Math.ceil(customers / 50));
  const rows: GridData = { customers: [], dsm: [], faults: [] };
  for (let l = 0; l < locals; l++) if (rand() < 0.8) rows.dsm.push(`L${l},Substation ${l}`);
  for (let c = 0; c < customers; c++) {
    const zero = rand() < 0.06;
    const lat = zero && rand() < 0.5 ? 0 : (-23 + rand()).toFixed(5);
    const lon = zero && !(lat === 0) ? 0 : (-46 + rand()).toFixed(5);
    rows.customers.push(
      [
        `C${c}`,
        int(2 ** 32).toString(16),
        pick(['residential', 'commercial', 'industrial']),
        `L${int(locals)}`,
        `K${int(1e6)}`,
        `M${int(1e6)}`,
        pick(['ELO-2113', 'NANSEN-S', 'LG-E750']),
        `client${int(1e5)}`,
        lat,
        lon,
      ].join(','),
    );
  }
  for (let f = 0; f < customers * 3; f++) {
    const customer = rand() < 0.03 ? `C${customers + int(100)}` : `C${int(customers)}`;
    const date = `2024-${two(1 + int(12))}-${two(1 + int(28))}`;
    const time = `${two(int(24))}:${two(int(60))}:${two(int(60))}`;
    const length = `${two(int(5))}:${two(int(60))}:${two(int(60))}`;
    rows.faults.push([`F${f}`, customer, date, time, length].join(','));
  }
  return rows;
}

export function writeGrid(dir: string, data: GridData): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, lines] of Object.entries(data))
    writeFileSync(join(dir, `${name}.csv`), `${lines.join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, customers = '1000', seed = '1'] = process.argv.slice(2);
  if (!dir) throw new Error('usage: smartgrid-data.ts OUTDIR [CUSTOMERS] [SEED]');
  writeGrid(dir, generateGrid(Number(customers), Number(seed)));
}
