/**
 * Debian package versions, as dpkg reads and orders them (deb-version(7)).
 *
 * A version is `[epoch:]upstream[-revision]`. Parsing follows dpkg's `parseversion`
 * (lib/dpkg/parsehelp.c) and the ordering its `verrevcmp` and `dpkg_version_compare`
 * (lib/dpkg/version.c), both checked against dpkg commit c5efef926d16a72fd9270c8efceeba8872419292
 * (https://git.dpkg.org/git/dpkg/dpkg.git) and, in the tests, against the system's
 * `dpkg --compare-versions`.
 */
import { ProvenantError } from '../../errors.ts';

/** A version split the way dpkg splits it. */
export interface DebVersion {
  /** The epoch, 0 when the version has none. */
  readonly epoch: number;
  /** The upstream part: between the epoch's colon and the last hyphen. */
  readonly upstream: string;
  /** The Debian revision: after the last hyphen, '' when there is no hyphen. */
  readonly revision: string;
}

// dpkg stores the epoch in an int and refuses anything larger.
const INT_MAX = 2147483647;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
// c_isblank: space and tab only.
const isBlank = (c: number): boolean => c === 0x20 || c === 0x09;
// strtol skips C isspace before the number: space, \t, \n, \v, \f, \r.
const EPOCH = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/;

/** What is wrong with a version: an error dpkg refuses, or a warning it only prints. */
interface Problem {
  readonly message: string;
  readonly fatal: boolean;
}

/** dpkg's `parseversion`: the split, and the first problem found (if any). */
function split(text: string): { version: DebVersion; problem: Problem | undefined } {
  let start = 0;
  let end = text.length;
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  const s = text.slice(start, end);
  const fail = (message: string, fatal = true) => ({ version: lenient(s), problem: { message, fatal } });
  if (s === '') return fail('is empty');
  for (let i = 0; i < s.length; i++) if (isBlank(s.charCodeAt(i))) return fail('has embedded spaces');

  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon >= 0) {
    const m = EPOCH.exec(s.slice(0, colon));
    if (m === null) return fail(colon === 0 ? 'has an empty epoch' : 'has an epoch that is not a number');
    const digits = (m[2] as string).replace(/^0+(?=.)/, '');
    if (m[1] === '-' && digits !== '0') return fail('has a negative epoch');
    if (digits.length > 10 || Number(digits) > INT_MAX) return fail('has an epoch that is too big');
    epoch = Number(digits);
    rest = s.slice(colon + 1);
    if (rest === '') return fail('has nothing after the colon');
  }
  const hyphen = rest.lastIndexOf('-');
  const upstream = hyphen < 0 ? rest : rest.slice(0, hyphen);
  const revision = hyphen < 0 ? '' : rest.slice(hyphen + 1);
  const version: DebVersion = { epoch, upstream, revision };
  const problem = (message: string, fatal: boolean) => ({ version, problem: { message, fatal } });
  if (hyphen >= 0 && revision === '') return problem('has an empty revision', true);
  if (upstream === '') return problem('has an empty upstream version', true);
  if (!isDigit(upstream.charCodeAt(0))) return problem('has an upstream version that does not start with a digit', false);
  for (let i = 1; i < upstream.length; i++) {
    const c = upstream.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && !'.-+~:'.includes(upstream.charAt(i))) {
      return problem(`has the character ${JSON.stringify(upstream.charAt(i))} in its upstream version`, false);
    }
  }
  for (let i = 0; i < revision.length; i++) {
    const c = revision.charCodeAt(i);
    if (!isDigit(c) && !isAlpha(c) && !'.+~'.includes(revision.charAt(i))) {
      return problem(`has the character ${JSON.stringify(revision.charAt(i))} in its revision`, false);
    }
  }
  return { version, problem: undefined };
}

/**
 * A split for text dpkg refuses, so that the comparison stays total: an epoch only when the text
 * before the first colon is a plain number, and the revision after the last hyphen.
 */
function lenient(s: string): DebVersion {
  let epoch = 0;
  let rest = s;
  const colon = s.indexOf(':');
  if (colon > 0 && /^[0-9]+$/.test(s.slice(0, colon))) {
    epoch = Math.min(Number(s.slice(0, colon)), Number.MAX_SAFE_INTEGER);
    rest = s.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf('-');
  return hyphen < 0
    ? { epoch, upstream: rest, revision: '' }
    : { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) };
}

/**
 * Splits a version into epoch, upstream version and revision, as dpkg does: blanks around it are
 * ignored, the epoch is the number before the first colon, the revision what follows the last
 * hyphen.
 *
 * Like dpkg, it accepts what dpkg only warns about (an upstream version that does not start with a
 * digit, characters outside `[A-Za-z0-9.+~:-]`); {@link isValidDebVersion} is the strict check.
 *
 * @param text the version, for example `1:2.36.1-8+deb12u1`
 * @param where where the version comes from, for the error
 * @returns the parts
 * @throws ProvenantError `INVALID_PACKAGE` for what dpkg refuses: an empty version, embedded
 *   spaces, an epoch that is empty, not a number, negative or above 2^31-1, nothing after the
 *   colon, an empty revision or an empty upstream version
 */
export function parseDebVersion(text: string, where?: string): DebVersion {
  const { version, problem } = split(text);
  if (problem?.fatal) {
    throw new ProvenantError('INVALID_PACKAGE', `the Debian version ${JSON.stringify(text)} ${problem.message}`, {
      where,
      hint: 'write a version as [epoch:]upstream[-revision], for example "1:2.36.1-8+deb12u1"',
    });
  }
  return version;
}

/**
 * Whether `text` is a version dpkg accepts without a warning (deb-version(7)): an optional
 * numeric epoch and colon, an upstream version that starts with a digit and holds only
 * alphanumerics and `.+~-:`, and an optional hyphen and revision of alphanumerics and `.+~`.
 *
 * @param text the text to check
 * @returns true when dpkg neither refuses nor warns about it
 */
export function isValidDebVersion(text: string): boolean {
  return split(text).problem === undefined;
}

// verrevcmp's `order`: letters sort by their code, before every other non-digit, and `~` sorts
// before everything, even the end of the part (which, like a digit, weighs 0).
function weight(s: string, i: number): number {
  if (i >= s.length) return 0;
  const c = s.charCodeAt(i);
  if (isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 0x7e /* ~ */) return -1;
  return c + 256;
}

/**
 * dpkg's `verrevcmp`: alternating runs of non-digits (compared character by character with
 * {@link weight}) and digits (compared as numbers of any length, so `1.0` and `1.00` are equal).
 */
function compareParts(a: string, b: string): -1 | 0 | 1 {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const wa = weight(a, i);
      const wb = weight(b, j);
      if (wa !== wb) return wa < wb ? -1 : 1;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    // Without leading zeros, the longer run of digits is the larger number; between runs of
    // the same length, the first differing digit decides.
    let firstDiff = 0;
    while (i < a.length && j < b.length && isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return firstDiff < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Compares two Debian versions exactly as dpkg does (`dpkg_version_compare`): the epoch as a
 * number, then the upstream version, then the revision, each part as alternating runs of
 * non-digits and digits. Among non-digits, `~` sorts before everything, even the end of the part
 * (`1.0~rc1 < 1.0`), and letters before other characters (`1.0a < 1.0+`); runs of digits compare
 * as numbers (`1.9 < 1.10`, `1.0 = 1.00`). A missing revision equals `-0`.
 *
 * It never throws: text dpkg refuses is split leniently (see {@link parseDebVersion}) and
 * compared the same way, so the result is a total preorder on all strings and the function can
 * be passed to `Array.prototype.sort`.
 *
 * @param a a version, normally valid
 * @param b another version
 * @returns -1 when `a` is older than `b`, 1 when newer, 0 when dpkg treats them as equal
 */
export function compareDebVersions(a: string, b: string): -1 | 0 | 1 {
  const va = split(a).version;
  const vb = split(b).version;
  if (va.epoch !== vb.epoch) return va.epoch < vb.epoch ? -1 : 1;
  return compareParts(va.upstream, vb.upstream) || compareParts(va.revision, vb.revision);
}

/**
 * The version a binNMU rebuilds: `version` without its last `+bN` (`3.11-4+b1` → `3.11-4`,
 * `2.36-9+deb12u4+b2` → `2.36-9+deb12u4`), or `version` when it has none. A binary-only NMU
 * rebuilds a source version unchanged, often on some architectures only, and appends `+bN` to the
 * version (Debian Developer's Reference, "Recompilation or binary-only NMU"): the same package
 * may be 3.11-4 on amd64 and 3.11-4+b1 on arm64.
 */
export function debRebuildBase(version: string): string {
  return version.replace(/\+b[0-9]+$/, '');
}

/**
 * A version relation of a Debian dependency (deb-control(5)): `<<` strictly earlier, `<=`
 * earlier or equal, `=` equal, `>=` later or equal, `>>` strictly later. The obsolete `<` and `>`
 * mean `<=` and `>=`, as dpkg reads them (with a warning).
 */
export type DebConstraintOp = '<<' | '<=' | '=' | '>=' | '>>' | '<' | '>';

const OPS: Readonly<Record<DebConstraintOp, (r: number) => boolean>> = {
  '<<': (r) => r < 0,
  '<=': (r) => r <= 0,
  '<': (r) => r <= 0,
  '=': (r) => r === 0,
  '>=': (r) => r >= 0,
  '>': (r) => r >= 0,
  '>>': (r) => r > 0,
};

/** Whether `op` is a {@link DebConstraintOp}. */
export function isDebConstraintOp(op: string): op is DebConstraintOp {
  return Object.hasOwn(OPS, op);
}

/**
 * Whether `version` satisfies the relation `op wanted`, for example
 * `satisfiesDebConstraint('2.36-9', '>=', '2.36')`.
 *
 * @param version the version a package has
 * @param op the relation of the dependency
 * @param wanted the version the dependency names
 * @returns true when a package of `version` satisfies the dependency
 * @throws ProvenantError `USAGE` for an operator that is not a {@link DebConstraintOp}
 */
export function satisfiesDebConstraint(version: string, op: DebConstraintOp, wanted: string): boolean {
  if (!isDebConstraintOp(op)) {
    throw new ProvenantError('USAGE', `${JSON.stringify(op)} is not a Debian version relation`, {
      hint: 'use one of <<, <=, =, >=, >>',
    });
  }
  return OPS[op](compareDebVersions(version, wanted));
}

/**
 * Formats a split version back into text: the epoch only when it is not 0 (or the upstream
 * version holds a colon, which only an epoch allows), the revision only when it is not empty.
 */
export function formatDebVersion(v: DebVersion): string {
  const epoch = v.epoch === 0 && !v.upstream.includes(':') ? '' : `${v.epoch}:`;
  return `${epoch}${v.upstream}${v.revision === '' ? '' : `-${v.revision}`}`;
}
