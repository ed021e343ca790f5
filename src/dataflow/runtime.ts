/** The trusted half of a job bundle, beside the job: what executors and the job program call. */
export { runTask } from './task.ts';
export { runProgram } from './program.ts';
