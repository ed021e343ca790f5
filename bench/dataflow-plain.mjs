// The plain single-process baselines of bench/dataflow.ts: the same computations as the example
// jobs, on the plaintext files, in one Node process with no engine, sealing or enclave.
//   node bench/dataflow-plain.mjs wordcount FILE
//   node bench/dataflow-plain.mjs smartgrid DIR FROM TO
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [mode, input, from, to] = process.argv.slice(2);
const lines = (name) =>
  readFileSync(join(input, name), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);

if (mode === 'wordcount') {
  const counts = new Map();
  for (const w of readFileSync(input, 'utf8')
    .toLowerCase()
    .split(/[^a-z]+/))
    if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  console.log(counts.size);
} else if (mode === 'smartgrid') {
  const areas = new Set(lines('dsm.csv').map((l) => l.split(',')[0]));
  const located = new Set();
  for (const line of lines('customers.csv')) {
    const c = line.split(',');
    if (Number(c[8]) !== 0 && Number(c[9]) !== 0 && areas.has(c[3])) located.add(c[0]);
  }
  const result = new Map();
  for (const line of lines('faults.csv')) {
    const [, customer, date, , length] = line.split(',');
    if (date < from || date > to || !located.has(customer)) continue;
    const [h, m, s] = length.split(':').map(Number);
    const entry = result.get(customer) ?? [0, 0];
    entry[0] += 1;
    entry[1] += h * 3600 + m * 60 + s;
    result.set(customer, entry);
  }
  console.log(result.size);
} else throw new Error('usage: dataflow-plain.mjs wordcount FILE | smartgrid DIR FROM TO');
