// Word count: tokens are maximal runs of [a-z] after lowercasing.
//   cloister job run examples/wordcount.ts --master local[2] --key-file K -- INPUT OUTPUT
import type { SparkContext } from 'cloister/dataflow';

export default async function job(sc: SparkContext): Promise<void> {
  const [input = 'corpus.sealed', output = 'wordcount.out'] = sc.args;
  await sc
    .textFile(input)
    .flatMap((line) => line.toLowerCase().split(/[^a-z]+/))
    .filter((word) => word.length > 0)
    .map((word) => [word, 1] as const)
    .reduceByKey((a, b) => a + b)
    .saveAsTextFile(output);
}
