/**
 * Alpine package versions and dependency atoms, as apk-tools reads them.
 *
 * The comparison follows apk-tools' `src/version.c` token by token (checked against commit
 * 90b974fd8510fbc2b3d6adde311ad1ba8754c728, https://gitlab.alpinelinux.org/alpine/apk-tools),
 * not a regular expression: a version is scanned into tokens
 * `digits {.digits} [letter] {_suffix[digits]} [~hash] [-rN]`, two versions are compared token by
 * token, and at the first place where the kinds of token differ a fixed rule decides. Invalid
 * versions are not rejected by the comparison; they compare the way apk compares them (the scan
 * stops at the first bad character, which then acts as a token that sorts below the end of a
 * version), so a resolver built on this agrees with `apk` even on broken index entries.
 *
 * Dependency atoms (`name`, `!name`, `name>=1.2-r0`, `name@edge`, `so:libc.musl-x86_64.so.1=1`)
 * follow `apk_dep_parse` and `apk_blob_pull_dep` in `src/package.c`, with the stricter checks of
 * apk v3's `dependency_fromstring` (`src/apk_adb.c`): the version must be valid and the name may
 * only hold apk's dependency-name characters.
 */
import { ProvenantError } from '../../errors.ts';

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

// Token kinds, numbered as in version.c. The numbers matter: after a common prefix, the version
// whose next token has the *higher* kind sorts lower, so `1.0-r1` (revision, 6) < `1.0.1` (digit, 1)
// and `1.0` (end, 7) < `1.0a` (letter, 2). An invalid token (8) sorts below the end of a version.
const INITIAL_DIGIT = 0;
const DIGIT = 1;
const LETTER = 2;
const SUFFIX = 3;
const SUFFIX_NO = 4;
const COMMIT_HASH = 5;
const REVISION_NO = 6;
const END = 7;
const INVALID = 8;

// Suffix ranks as in version.c: the pre-release suffixes rank below "no suffix" (5), the others
// above it, so 1.0_alpha < 1.0_beta < 1.0_pre < 1.0_rc < 1.0 < 1.0_cvs < 1.0_svn < 1.0_git <
// 1.0_hg < 1.0_p.
const SUFFIX_NONE = 5;
const SUFFIX_RANK: ReadonlyMap<string, number> = new Map([
  ['alpha', 1],
  ['beta', 2],
  ['pre', 3],
  ['rc', 4],
  ['cvs', 6],
  ['svn', 7],
  ['git', 8],
  ['hg', 9],
  ['p', 10],
]);

// apk keeps version numbers in a uint64_t and lets them wrap (apk_blob_pull_uint does no overflow
// check), so `18446744073709551616` equals `0`. Up to 15 digits a double is exact and faster.
const MAX_EXACT_DIGITS = 15;
const U64 = 64;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39; // 0-9
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a; // a-z
// apk's APK_CTYPE_HEXDIGIT: lower-case only.
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66);

/** A version scanned one token at a time, like version.c's `struct token_state`. */
class Scanner {
  readonly #s: string;
  #pos = 0;
  kind: number;
  /** The token's characters: digits without the `.`, `-r` or `_suffix`; a hash without the `~`. */
  text = '';
  /** The numeric value of a digit token, wrapped to 64 bits as apk does. */
  number: number | bigint = 0;
  /** The rank of a suffix token. */
  suffix = 0;

  constructor(version: string) {
    this.#s = version;
    // The first token is always a number; a version that does not start with a digit is invalid.
    this.kind = this.#digits(INITIAL_DIGIT);
  }

  /** Reads the next token; after the end or an invalid token, nothing changes. */
  next(): void {
    if (this.kind < END) this.kind = this.#scan(this.kind);
  }

  /** Reads one token after a token of kind `prev` and returns its kind (version.c's `token_next`). */
  #scan(prev: number): number {
    const s = this.#s;
    if (this.#pos >= s.length) return END;
    const c = s.charCodeAt(this.#pos);
    if (isLower(c)) {
      // One letter, only straight after a number: `1.0a`, never `1.0ab` or `1_pa`.
      if (prev > DIGIT) return INVALID;
      this.text = s.charAt(this.#pos++);
      return LETTER;
    }
    if (c === 0x2e /* . */ || isDigit(c)) {
      if (c === 0x2e) {
        if (prev > DIGIT) return INVALID;
        this.#pos++;
      }
      // A `.` may only follow a number; bare digits only follow a suffix name (`_rc1`).
      if (prev === INITIAL_DIGIT || prev === DIGIT) return this.#digits(DIGIT);
      if (prev === SUFFIX) return this.#digits(SUFFIX_NO);
      return INVALID;
    }
    if (c === 0x5f /* _ */) {
      if (prev > SUFFIX_NO) return INVALID;
      const start = ++this.#pos;
      while (this.#pos < s.length && isLower(s.charCodeAt(this.#pos))) this.#pos++;
      this.text = s.slice(start, this.#pos);
      const rank = SUFFIX_RANK.get(this.text);
      if (rank === undefined) return INVALID;
      this.suffix = rank;
      return SUFFIX;
    }
    if (c === 0x7e /* ~ */) {
      if (prev >= COMMIT_HASH) return INVALID;
      const start = ++this.#pos;
      while (this.#pos < s.length && isHex(s.charCodeAt(this.#pos))) this.#pos++;
      if (this.#pos === start) return INVALID;
      this.text = s.slice(start, this.#pos);
      return COMMIT_HASH;
    }
    if (c === 0x2d /* - */) {
      if (prev >= REVISION_NO || s.charCodeAt(this.#pos + 1) !== 0x72 /* r */) return INVALID;
      this.#pos += 2;
      return this.#digits(REVISION_NO);
    }
    return INVALID;
  }

  /** Reads a run of digits as a token of `kind`; no digits make it invalid. */
  #digits(kind: number): number {
    const s = this.#s;
    const start = this.#pos;
    while (this.#pos < s.length && isDigit(s.charCodeAt(this.#pos))) this.#pos++;
    if (this.#pos === start) return INVALID;
    this.text = s.slice(start, this.#pos);
    this.number = this.text.length <= MAX_EXACT_DIGITS ? Number(this.text) : BigInt.asUintN(U64, BigInt(this.text));
    return kind;
  }
}

type Order = -1 | 0 | 1;

const order = <T extends number | bigint | string>(a: T, b: T): Order => (a < b ? -1 : a > b ? 1 : 0);

/** Compares two tokens of the same kind (version.c's `token_cmp`). */
function compareTokens(a: Scanner, b: Scanner): Order {
  switch (a.kind) {
    case DIGIT:
      // A number after a dot with a leading zero compares as a string, as in Gentoo's rules:
      // 1.01 < 1.1 and 1.0 < 1.00. The first number and suffix/revision numbers never do.
      if (a.text.startsWith('0') || b.text.startsWith('0')) return order(a.text, b.text);
      return order(a.number, b.number);
    case INITIAL_DIGIT:
    case SUFFIX_NO:
    case REVISION_NO:
      return order(a.number, b.number);
    case LETTER:
      return order(a.text, b.text);
    case SUFFIX:
      return order(a.suffix, b.suffix);
    default:
      // A commit hash: byte order, a prefix first (apk_blob_sort). Hex digits are ASCII, so UTF-16
      // order is byte order.
      return order(a.text, b.text);
  }
}

/** version.c's `apk_version_compare_fuzzy`; with `fuzzy`, `b` matches any version it is a token prefix of. */
function compareVersions(a: string, b: string, fuzzy: boolean): Order {
  const ta = new Scanner(a);
  const tb = new Scanner(b);
  while (ta.kind === tb.kind && ta.kind < END) {
    const r = compareTokens(ta, tb);
    if (r !== 0) return r;
    ta.next();
    tb.next();
  }
  // Both ended, or both stopped at an invalid character after the same tokens.
  if (ta.kind === tb.kind) return 0;
  if (fuzzy && tb.kind === END) return 0;
  // The common prefix is equal and one version goes on: the longer one is greater, unless what
  // follows is a pre-release suffix (1.0_rc1 < 1.0), and otherwise the token kinds decide.
  if (ta.kind === SUFFIX && ta.suffix < SUFFIX_NONE) return -1;
  if (tb.kind === SUFFIX && tb.suffix < SUFFIX_NONE) return 1;
  return ta.kind > tb.kind ? -1 : 1;
}

// ---------------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------------

/**
 * Compares two Alpine package versions the way `apk` does (`apk_version_compare`).
 *
 * A version reads `digits {.digits} [letter] {_suffix[digits]} [~hash] [-rN]`, for example
 * `1.36.1-r29`, `2.3.0b-r1`, `1.2.5_rc2`, `0.1_git20240101_pre1` or `1.0~1234abcd-r0`. Numbers
 * compare as numbers, except that a number after a dot with a leading zero compares as a string
 * (`1.01 < 1.1`); the pre-release suffixes `_alpha < _beta < _pre < _rc` sort below no suffix and
 * `_cvs < _svn < _git < _hg < _p` above it; `-r0` sorts above no revision. Invalid versions are
 * compared as far as they scan, as apk does, and never throw: `1.0bc` and `1.0bd` compare equal.
 * The result is a total preorder on all strings, so it can be passed to `Array.prototype.sort`.
 *
 * @param a a version, normally valid ({@link isValidApkVersion})
 * @param b another version
 * @returns -1 when `a` is older than `b`, 1 when newer, 0 when apk treats them as the same version
 *   (`1.0-r01` and `1.0-r1` are the same)
 */
export function compareApkVersions(a: string, b: string): -1 | 0 | 1 {
  return compareVersions(a, b, false);
}

/**
 * Whether `version` is a well-formed Alpine version (`apk_version_validate`): one or more
 * dot-separated numbers, at most one lower-case letter, any number of `_alpha`, `_beta`, `_pre`,
 * `_rc`, `_cvs`, `_svn`, `_git`, `_hg` or `_p` suffixes each with an optional number, an optional
 * `~` and lower-case hex commit hash, and an optional `-r` revision number, in that order.
 *
 * @param version the text to check
 * @returns true when apk accepts it as a version
 */
export function isValidApkVersion(version: string): boolean {
  const t = new Scanner(version);
  while (t.kind < END) t.next();
  return t.kind === END;
}

// ---------------------------------------------------------------------------------------------
// Constraints
// ---------------------------------------------------------------------------------------------

/**
 * A version operator of a dependency, written as apk writes it (`apk_version_op_string`).
 *
 * - `=`, `<`, `>`, `<=`, `>=` compare with {@link compareApkVersions};
 * - `~` matches every version that the wanted version is a token prefix of (`~3.6` matches `3.6`,
 *   `3.6.9`, `3.6_rc1` and `3.6-r2`, not `3.60`); `<~` and `>~` also match older or newer versions;
 * - `><` pins a package by its identity checksum (`Q1…`) rather than a version: apk writes it to
 *   the world file for a package added from a file. It matches packages, not versions.
 *
 * Conflicts (`!name`) are a flag on the dependency, not an operator.
 */
export type ApkConstraintOp = '=' | '<' | '>' | '<=' | '>=' | '~' | '<~' | '>~' | '><';

/** The operators that compare versions: every {@link ApkConstraintOp} except the checksum pin `><`. */
export type ApkVersionOp = Exclude<ApkConstraintOp, '><'>;

// apk's result bits (apk_version.h): the operator is a mask over the comparison's outcome.
const EQUAL = 1;
const LESS = 2;
const GREATER = 4;
const FUZZY = 8;
const ANY = EQUAL | LESS | GREATER;
const CHECKSUM = LESS | GREATER;

const OP_MASK: Readonly<Record<ApkConstraintOp, number>> = {
  '=': EQUAL,
  '<': LESS,
  '>': GREATER,
  '<=': LESS | EQUAL,
  '>=': GREATER | EQUAL,
  '~': EQUAL | FUZZY,
  '<~': LESS | EQUAL | FUZZY,
  '>~': GREATER | EQUAL | FUZZY,
  '><': CHECKSUM,
};
const MASK_OP: ReadonlyMap<number, ApkConstraintOp> = new Map(
  Object.entries(OP_MASK).map(([op, mask]) => [mask, op as ApkConstraintOp] as const),
);

/**
 * Whether `version` satisfies the constraint `op wanted` (`apk_version_match`), for example
 * `satisfiesApkConstraint('3.6.9-r1', '~', '3.6')` or `satisfiesApkConstraint('1.2-r0', '>=', '1.2')`.
 *
 * Like apk, it does not reject invalid versions: they match as far as they compare.
 *
 * @param version the version a package has
 * @param op the operator of the dependency
 * @param wanted the version the dependency names
 * @returns true when a package of `version` satisfies the dependency
 * @throws ProvenantError `USAGE` for an operator that is not an {@link ApkVersionOp}; the checksum
 *   pin `><` is matched against a package's identity checksum, not its version
 */
export function satisfiesApkConstraint(version: string, op: ApkVersionOp, wanted: string): boolean {
  const mask = Object.hasOwn(OP_MASK, op) ? OP_MASK[op] : undefined;
  if (mask === undefined || mask === CHECKSUM) {
    throw new ProvenantError('USAGE', `${JSON.stringify(op)} is not a version operator`, {
      hint: 'use one of =, <, >, <=, >=, ~, <~, >~; a >< dependency is matched against the package checksum (Q1…), not a version',
    });
  }
  const r = compareVersions(version, wanted, (mask & FUZZY) !== 0);
  return ((r < 0 ? LESS : r > 0 ? GREATER : EQUAL) & mask) !== 0;
}

// ---------------------------------------------------------------------------------------------
// Dependency atoms
// ---------------------------------------------------------------------------------------------

/**
 * One dependency atom as apk writes it in APKINDEX `D:`, `p:` and `i:` fields, in
 * `/etc/apk/world` and in apko's `contents.packages`: `[!]name[@tag][op version]`.
 *
 * `op` and `version` are both present or both absent.
 */
export interface ApkDependency {
  /** The package or virtual name: `musl`, `so:libc.musl-x86_64.so.1`, `cmd:sh`, `pc:zlib`. */
  readonly name: string;
  /** True for `!name`: the name (or the named versions of it) must not be installed. */
  readonly conflict: boolean;
  /** The version operator; absent when any version will do. */
  readonly op?: ApkConstraintOp;
  /** The wanted version, or for `><` the package checksum (`Q1` and base64 SHA-1). */
  readonly version?: string;
  /** The repository tag the dependency is pinned to, without the `@` (`edge` for `name@edge`). */
  readonly tag?: string;
}

// apk's APK_CTYPE_DEPENDENCY_NAME and APK_CTYPE_TAG_NAME (src/ctype.c). `[` and `]` are there for
// the `cmd:[` and `cmd:[[` providers of busybox and bash.
const NAME_CHARS = /^[A-Za-z0-9+\-._,:/[\]]+$/;
const TAG_CHARS = /^[A-Za-z0-9+\-._,:/[\]=]+$/;
const COMPARER_CHARS = /[<>=~]/;
// An identity checksum as apk_blob_pull_digest reads it: Q (base64) or X (hex), then 1 (SHA-1) or
// 2 (SHA-256), then the digest.
const CHECKSUM_TEXT = /^(?:Q[12][A-Za-z0-9+/]+={0,2}|X[12][0-9a-f]+)$/;
const SEPARATOR = /[ \t\n]/;

function badDependency(text: string, why: string, where: string | undefined, hint?: string): ProvenantError {
  return new ProvenantError('INVALID_PACKAGE', `the apk dependency ${JSON.stringify(text)} ${why}`, {
    where,
    hint: hint ?? 'write a dependency as [!]name[@tag][op version], for example "musl>=1.2.5-r0" or "!busybox"',
  });
}

/** Checks the parts of a dependency; `text` is what to quote in the error. */
function checkParts(
  text: string,
  name: string,
  tag: string | undefined,
  op: ApkConstraintOp | undefined,
  version: string | undefined,
  where: string | undefined,
): void {
  if (name.length === 0) throw badDependency(text, 'has no package name', where);
  if (!NAME_CHARS.test(name)) {
    throw badDependency(text, `has a package name ${JSON.stringify(name)} with characters apk does not allow in a name`, where);
  }
  if (tag !== undefined) {
    if (tag.length === 0) throw badDependency(text, 'has an empty repository tag after "@"', where);
    if (!TAG_CHARS.test(tag)) {
      throw badDependency(text, `has a repository tag ${JSON.stringify(tag)} with characters apk does not allow in a tag`, where);
    }
  }
  if ((op === undefined) !== (version === undefined)) {
    throw badDependency(text, op === undefined ? 'has a version but no operator' : 'has an operator but no version', where);
  }
  if (op === undefined || version === undefined) return;
  if (op === '><') {
    if (!CHECKSUM_TEXT.test(version)) {
      throw badDependency(text, `pins the checksum ${JSON.stringify(version)}, which is not an apk checksum (Q1 and base64)`, where);
    }
    return;
  }
  if (version.length === 0) throw badDependency(text, `has no version after "${op}"`, where);
  if (!isValidApkVersion(version)) {
    const range = COMPARER_CHARS.test(version);
    throw badDependency(
      text,
      `has an invalid version ${JSON.stringify(version)}`,
      where,
      range
        ? 'apk has no version ranges in one dependency; write two, such as "name>=1" and "name<2"'
        : 'an apk version reads digits{.digits}[letter]{_suffix[N]}[~hash][-rN], for example 1.2.3_rc1-r0',
    );
  }
}

/**
 * Parses one dependency atom, as `apk_dep_parse` reads it: an optional `!` for a conflict, the
 * name, an optional `@tag`, then optionally an operator made of `<`, `>`, `=` and `~` and a version.
 *
 * Like apk, the operator characters combine as a set, so `==` reads as `=`, `=>` as `>=`, `=~` as
 * `~` and `<>` as `><`; the parsed `op` is the canonical spelling. Stricter than apk v2, which keeps
 * a dependency with a bad version and only marks it broken, this throws, as apk v3 does when it
 * writes an index.
 *
 * @param text one atom, without spaces: `musl`, `!busybox`, `zlib>=1.3-r0`, `curl@edge`, `so:libz.so.1`
 * @param where where the atom was found, for the error (an APKINDEX and its line, a config path)
 * @returns the parts of the dependency
 * @throws ProvenantError `INVALID_PACKAGE` when the atom is empty, holds whitespace, has no name, a name or
 *   tag with characters apk does not allow, an operator that is no constraint (`<>=` matches
 *   anything), an invalid version (including a range such as `name>1<3`, which apk cannot express
 *   in one atom) or, for `><`, a value that is not a checksum
 */
export function parseApkDependency(text: string, where?: string): ApkDependency {
  if (text.length === 0) throw badDependency(text, 'is empty', where);
  if (SEPARATOR.test(text)) {
    throw badDependency(text, 'holds whitespace', where, 'a list of dependencies is separated by spaces; parse each atom on its own');
  }
  const conflict = text.startsWith('!');
  const rest = conflict ? text.slice(1) : text;
  const opAt = rest.search(COMPARER_CHARS);
  const nameAndTag = opAt === -1 ? rest : rest.slice(0, opAt);
  // apk_blob_split at the first "@": everything after it is the tag.
  const at = nameAndTag.indexOf('@');
  const name = at === -1 ? nameAndTag : nameAndTag.slice(0, at);
  const tag = at === -1 ? undefined : nameAndTag.slice(at + 1);
  let op: ApkConstraintOp | undefined;
  let version: string | undefined;
  if (opAt !== -1) {
    let end = opAt;
    let mask = 0;
    for (; end < rest.length; end++) {
      const c = rest[end];
      if (c === '<') mask |= LESS;
      else if (c === '>') mask |= GREATER;
      else if (c === '=') mask |= EQUAL;
      else if (c === '~') mask |= EQUAL | FUZZY;
      else break;
    }
    op = (mask & ANY) === ANY ? undefined : MASK_OP.get(mask);
    if (op === undefined) {
      // apk accepts `<>=` and `<=>` as "any version" and then writes them back without an operator;
      // a dependency that says it wants a version and accepts all of them is a mistake.
      throw badDependency(text, `has the operator ${JSON.stringify(rest.slice(opAt, end))}, which matches every version`, where);
    }
    version = rest.slice(end);
  }
  checkParts(text, name, tag, op, version, where);
  return {
    name,
    conflict,
    ...(op === undefined ? {} : { op }),
    ...(version === undefined ? {} : { version }),
    ...(tag === undefined ? {} : { tag }),
  };
}

/**
 * Writes a dependency atom the way apk writes it (`apk_blob_push_dep`): `[!]name[@tag][op version]`.
 * It is the inverse of {@link parseApkDependency}: parsing the result gives back `dep`.
 *
 * @param dep the dependency
 * @returns the atom, for example `!busybox`, `musl>=1.2.5-r0` or `curl@edge`
 * @throws ProvenantError `INVALID_PACKAGE` when `dep` could not be read back: an empty name or tag, characters
 *   apk does not allow, an operator without a version or the reverse, or an invalid version
 */
export function formatApkDependency(dep: ApkDependency): string {
  const text = `${dep.conflict ? '!' : ''}${dep.name}${dep.tag === undefined ? '' : `@${dep.tag}`}${dep.op ?? ''}${dep.version ?? ''}`;
  if (dep.op !== undefined && !Object.hasOwn(OP_MASK, dep.op)) {
    throw badDependency(text, `has the operator ${JSON.stringify(dep.op)}, which apk does not know`, undefined);
  }
  checkParts(text, dep.name, dep.tag, dep.op, dep.version, undefined);
  return text;
}
