/** When and how long the registry client waits before trying again: backoff with jitter, `Retry-After`, network failures worth a retry. */
import { ProvenantError } from '../errors.ts';

/** How often and how patiently to retry a request that failed in a way that may pass. */
export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  attempts: number;
  /** The delay before the first retry; each next one doubles (with jitter). Default 250 ms. */
  baseDelayMs: number;
  /** The longest backoff delay. Default 10 s. */
  maxDelayMs: number;
  /** The longest a `Retry-After` answer is waited for. Default 60 s. */
  maxRetryAfterMs?: number | undefined;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/**
 * The delay before retry number `retry` (1 for the first): exponential, capped, with "full
 * jitter" between half and all of it, so that many clients that failed together do not retry
 * together (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function backoffDelay(retry: number, options: RetryOptions, random: () => number = Math.random): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** What a `Retry-After` answer asked for, and what will be waited. */
export interface RetryAfterWait {
  /** Milliseconds to wait: what was asked, at most the cap. */
  ms: number;
  /** What was asked, in milliseconds from the answer (before the cap). */
  askedMs: number;
  /** For logs and retry events: "the registry asked to wait 2 s (Retry-After)", and the cap when it applied. */
  note: string;
}

/**
 * The wait a `Retry-After` header asks for, capped at `cap` ms (a registry asking for an hour is
 * waited the cap, then tried again; the retry budget still ends the attempts). Undefined when
 * the header is absent or unreadable, which leaves the client's own backoff.
 */
export function retryAfterWait(value: string | null | undefined, now: number, cap: number): RetryAfterWait | undefined {
  const asked = retryAfterMs(value, now);
  if (asked === undefined) return undefined;
  const ms = Math.min(cap, asked);
  const note =
    ms < asked
      ? `the registry asked to wait ${formatWait(asked)} (Retry-After), capped at ${formatWait(cap)}`
      : `the registry asked to wait ${formatWait(asked)} (Retry-After)`;
  return { ms, askedMs: asked, note };
}

function formatWait(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7: IMF-fixdate, and the two obsolete forms a recipient must also accept.
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 §5.6.7) in ms since the epoch, or undefined (`now` places a two-digit
 * year). Written out rather than left to `Date.parse`, which reads many other strings as dates
 * ("1" is the year 2001) and reads the asctime form in local time.
 */
export function parseHttpDate(text: string, now: number = Date.now()): number | undefined {
  const parts = dateParts(text, now);
  if (parts === undefined) return undefined;
  const { year, month, day, hour, minute, second } = parts;
  const mon = MONTHS.indexOf(month);
  if (hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  // A leap second (:60) is read as :59.
  const t = Date.UTC(year, mon, day, hour, minute, Math.min(second, 59));
  // 31 Feb and the like roll over in Date.UTC: refuse them instead.
  if (new Date(t).getUTCDate() !== day) return undefined;
  return t;
}

function dateParts(
  text: string,
  now: number,
): { year: number; month: string; day: number; hour: number; minute: number; second: number } | undefined {
  const imf = IMF_FIXDATE.exec(text);
  if (imf !== null) {
    const [, day, month, year, h, m, sec] = imf;
    return { year: Number(year), month: month!, day: Number(day), hour: Number(h), minute: Number(m), second: Number(sec) };
  }
  const rfc850 = RFC850_DATE.exec(text);
  if (rfc850 !== null) {
    const [, day, month, yy, h, m, sec] = rfc850;
    // A two-digit year more than 50 years ahead is in the past century (RFC 9110 §5.6.7).
    const thisYear = new Date(now).getUTCFullYear();
    const year = 2000 + Number(yy) > thisYear + 50 ? 1900 + Number(yy) : 2000 + Number(yy);
    return { year, month: month!, day: Number(day), hour: Number(h), minute: Number(m), second: Number(sec) };
  }
  const asctime = ASCTIME_DATE.exec(text);
  if (asctime !== null) {
    const [, month, day, h, m, sec, year] = asctime;
    return { year: Number(year), month: month!, day: Number(day), hour: Number(h), minute: Number(m), second: Number(sec) };
  }
  return undefined;
}

/** `Retry-After` in ms from `now`, uncapped: delay-seconds, or an HTTP-date (0 when it has passed). */
function retryAfterMs(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(Number.MAX_SAFE_INTEGER, Number(v) * 1000);
  const date = parseHttpDate(v, now);
  return date === undefined ? undefined : Math.max(0, date - now);
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True for failures of the connection rather than of the request: a reset, a refused or timed
 * out connection, "socket hang up", and undici's `fetch failed`/`terminated` wrappers (whose
 * `cause` holds the socket error). These are retried; a TLS certificate error is not.
 */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProvenantError) return e.code === 'NETWORK';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code)) return true;
      if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'ENOTFOUND') return false;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /socket hang up|other side closed|terminated|premature close/i.test(message)) return true;
    if (e instanceof TypeError && message === 'fetch failed' && (e as { cause?: unknown }).cause === undefined) return true;
  }
  return false;
}

/** A short, secret-free description of a network error (its code and message). */
export function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof code === 'string' && !parts.includes(code)) parts.push(code);
    else if (typeof message === 'string' && message !== 'fetch failed' && !parts.includes(message)) parts.push(message);
  }
  return parts.join(': ') || 'connection failed';
}
