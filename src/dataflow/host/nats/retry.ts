/**
 * JetStream requests fail for a while when a cluster elects new leaders (a server died), and an
 * object store read whose consumer lived on the dead server can wait forever: the NATS side of the
 * pool, the executors and the block store bound each attempt in time and try again, a bounded
 * number of times.
 */
export const RETRY_ATTEMPTS = 40;
export const RETRY_DELAY_MS = 250;
/** Longest one attempt may take (a JetStream request alone times out after 5 s). */
export const ATTEMPT_MS = 10_000;

export class AttemptTimedOut extends Error {
  override name = 'AttemptTimedOut';
}

async function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AttemptTimedOut(`no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function retrying<T>(what: () => Promise<T>, attempts = RETRY_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await bounded(what(), ATTEMPT_MS);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
}
