/** Errors of the dataflow engine: an integrity failure is never retried and never yields a result. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  constructor(message: string) {
    super(`integrity check failed: ${message}`);
  }
}

/** A job that cannot run as written (a key that cannot be hashed, a bad master URL). */
export class DataflowError extends Error {
  override readonly name = 'DataflowError';
}
