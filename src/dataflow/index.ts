/** `cloister/dataflow`: what job files import. */
export { SparkContext, type Job } from './context.ts';
export type { RDD, Widen } from './rdd.ts';
export type { Key } from './keys.ts';
export { IntegrityError, DataflowError } from './errors.ts';
