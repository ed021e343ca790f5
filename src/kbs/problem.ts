/** RFC 7807 problem details: every KBS error leaves as `application/problem+json`. */

/** A KBS failure with its HTTP status and a stable `code` (the problem type's last segment). */
export class KbsProblem extends Error {
  override name = 'KbsProblem';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** The problem+json body for `p`. */
export function problemBody(p: KbsProblem, instance?: string): string {
  return JSON.stringify({
    type: `urn:cloister:kbs:${p.code}`,
    title: TITLES[p.status] ?? 'Error',
    status: p.status,
    detail: p.detail,
    ...(instance === undefined ? {} : { instance }),
  });
}
