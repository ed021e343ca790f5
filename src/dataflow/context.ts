/**
 * SparkContext: where a job starts. The same class serves the job program (which plans and runs
 * actions) and executors replaying the job file to find a task's closures; a driver object says which.
 */
import { ParallelRDD, TextFileRDD, type Action, type RDD, type RddContext } from './rdd.ts';

export interface ContextDriver {
  readonly defaultParallelism: number;
  /** The job's arguments (`cloister job run JOB -- ARGS`), the same in every executor. */
  readonly args: readonly string[];
  /** The sealed files `pattern` names, for the text RDD that will get id `rddId`. */
  listFiles(pattern: string, rddId: number): readonly string[];
  runAction(index: number, rdd: RDD<unknown>, action: Action): Promise<unknown>;
}

export class SparkContext implements RddContext {
  private rdds = 0;
  private actions = 0;

  constructor(private readonly driver: ContextDriver) {}

  get defaultParallelism(): number {
    return this.driver.defaultParallelism;
  }

  get args(): readonly string[] {
    return this.driver.args;
  }

  nextRddId(): number {
    return this.rdds++;
  }

  /** Lines of sealed files: a directory (its *.sealed files), a file, or `dir/*.sealed`; one partition per file. */
  textFile(pattern: string): RDD<string> {
    return new TextFileRDD(this, pattern, this.driver.listFiles(pattern, this.rdds));
  }

  /** A dataset from the job's own values, cut into `slices` partitions. */
  parallelize<T>(items: Iterable<T>, slices = this.defaultParallelism): RDD<T> {
    const all = [...items];
    const n = Math.max(1, Math.min(slices, all.length || 1));
    const cuts = Array.from({ length: n }, (_, i) =>
      all.slice(Math.floor((i * all.length) / n), Math.floor(((i + 1) * all.length) / n)),
    );
    return new ParallelRDD<T>(this, cuts);
  }

  runAction(rdd: RDD<unknown>, action: Action): Promise<unknown> {
    return this.driver.runAction(this.actions++, rdd, action);
  }
}

export type Job = (sc: SparkContext) => Promise<void> | void;
