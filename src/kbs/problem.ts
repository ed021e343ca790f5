/** RFC 7807 problem details: every KBS error leaves as `application/problem+json`. */

/** Longest problem detail kept: hostile input echoed in an error message is cut here. */
export const MAX_DETAIL = 512;

/** A KBS failure with its HTTP status and a stable `code` (the problem type's last segment). */
export class KbsProblem extends Error {
  override name = 'KbsProblem';
  /**
   * The detail, cut to `MAX_DETAIL` characters and escaped (`escapeText`): it often echoes the
   * client's input, and goes as it is to the client, the log and the audit table.
   */
  readonly detail: string;
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    const safe = escapeText(detail);
    super(`${code}: ${safe}`);
    this.detail = safe;
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

/** `text` cut to `max` characters, saying how many were cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * Characters JSON leaves raw but a terminal or a line-based log reader acts on: DEL, the C1
 * controls (CSI among them), the Unicode line and paragraph separators and the bidirectional
 * overrides and isolates (which reorder what a reader sees).
 */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** Those and the C0 controls (newline, carriage return, escape...). */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Untrusted `text`, cut to `max` characters and escaped as in a JSON string (without the quotes):
 * no control character, quote or backslash is left raw, so it cannot end a log line, forge another
 * one, move a terminal's cursor or close the quotes it is put in.
 */
export function escapeText(text: string, max = MAX_DETAIL): string {
  return JSON.stringify(truncate(text, max)).slice(1, -1).replace(UNSAFE_IN_JSON, unicodeEscape);
}

/** `text` with every control character as a `\uXXXX` escape (for text escaped before, kept readable). */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, unicodeEscape);
}
