// Smart-grid fault detection (the SGX-Spark demo): per customer with a location and a DSM service
// area, the number of faults in a date window and their total length in seconds.
//   cloister job run examples/smartgrid.ts --master local[2] --key-file K -- IN OUT FROM TO
// IN holds sealed customers*, dsm* and faults* CSV files (examples/smartgrid-data.ts makes them).
import type { SparkContext } from 'cloister/dataflow';

/** `hh:mm:ss` to seconds. */
const seconds = (hms: string): number => {
  const [h, m, s] = hms.split(':').map(Number);
  return h * 3600 + m * 60 + s;
};

export default async function job(sc: SparkContext): Promise<void> {
  const [input = 'grid.sealed', output = 'faults.out', from = '2024-03-01', to = '2024-05-31'] = sc.args;
  const csv = (name: string) => sc.textFile(`${input}/${name}*.sealed`).map((line) => line.split(','));

  // Customer(id, meterHash, type, local, contract, meter, model, client, lat, lon)
  const customers = csv('customers')
    .filter((c) => Number(c[8]) !== 0 && Number(c[9]) !== 0)
    .map((c) => [c[3], c[0]] as [string, string]);
  // DSM(local, name)
  const areas = csv('dsm').map((d) => [d[0], d[1]] as [string, string]);
  const located = customers.join(areas).map(([, [id]]) => [id, null] as [string, null]);
  // Faults(id, customer_id, date, time, length_time)
  const faults = csv('faults')
    .filter((f) => f[2] >= from && f[2] <= to)
    .map((f) => [f[1], seconds(f[4])] as [string, number]);

  await located
    .join(faults)
    .map(([id, [, secs]]) => [id, [1, secs]] as [string, [number, number]])
    .reduceByKey((a, b) => [a[0] + b[0], a[1] + b[1]])
    .saveAsTextFile(output);
}
