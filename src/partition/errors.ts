/** Errors of the partitioner: each names the file and line of the source that caused it. */
export class PartitionError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'PartitionError';
    this.file = file;
    this.line = line;
  }
}
