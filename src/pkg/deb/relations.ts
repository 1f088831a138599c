/**
 * Debian relationship fields (deb-control(5), Debian Policy §7.1): Depends, Pre-Depends,
 * Recommends, Suggests, Enhances, Conflicts, Breaks, Provides, Replaces and the source package's
 * Build-Depends family.
 *
 * The syntax follows dpkg's `f_dependency` (lib/dpkg/fields.c, checked against dpkg commit
 * c5efef926d16a72fd9270c8efceeba8872419292): comma-separated entries, each a `|`-separated list of
 * alternatives `name[:arch] [(op version)]`, with the restrictions of build relations
 * (`[arch list]`, `<build profiles>`, deb-src-control(5)) parsed as well, since dpkg-dev writes
 * them in the same grammar.
 */
import { ProvenantError } from '../../errors.ts';
import { type DebConstraintOp, parseDebVersion } from './version.ts';

/** One alternative of a relationship entry, for example `libc6:amd64 (>= 2.36)`. */
export interface DebRelation {
  /** The package (or virtual package) name. */
  readonly name: string;
  /** The architecture after the colon: `any`, `native` or an architecture name. */
  readonly archQualifier?: string;
  /** The version relation; absent when any version will do. `op` and `version` come together. */
  readonly op?: DebConstraintOp;
  /** The version the relation names. */
  readonly version?: string;
  /**
   * The architecture restriction of a build relation (`[amd64 !i386]`), as written, a `!`
   * included. Binary package fields have none.
   */
  readonly architectures?: readonly string[];
  /**
   * The build-profile restriction (`<!nocheck> <stage1 cross>`): a list of conjunctions, any of
   * which enables the relation, each term as written, a `!` included.
   */
  readonly profiles?: readonly (readonly string[])[];
}

// dpkg's c_isspace: the C locale's isspace. Continuation lines reach us joined with '\n'.
const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
// pkg_name_is_invalid (lib/dpkg/parsehelp.c): an alphanumeric, then alphanumerics and `-+._`.
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+\-._]*$/;
// dpkg_arch_name_is_invalid (lib/dpkg/arch.c): an alphanumeric, then alphanumerics and `-`.
const ARCH_NAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
// Build profile names (deb-src-control(5)): lower-case alphanumerics, `-`, `.` and `+`.
const PROFILE_NAME = /^[a-z0-9][a-z0-9+\-.]*$/;
const MAX_QUOTED = 200;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Fields where dpkg refuses alternatives: a package conflicts with, breaks, provides or replaces a list. */
const NO_ALTERNATIVES = new Set(['conflicts', 'breaks', 'provides', 'replaces']);

/**
 * Parses a relationship field into entries, each a list of alternatives any one of which meets
 * it: `libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0` gives
 * `[[{name: 'libc6', op: '>=', version: '2.36'}], [{name: 'debconf', ...}, {name: 'debconf-2.0'}]]`.
 *
 * As dpkg does, it accepts the obsolete relations `<` and `>` (meaning `<=` and `>=`; they are
 * kept as written) and a bare version `(1.0)` (an exact match, returned as `=`), and refuses
 * alternatives in Conflicts, Breaks, Provides and Replaces and relations other than `=` in
 * Provides. Unlike dpkg, it skips empty entries (`a, , b,`), which dpkg-dev tolerates in source
 * control files.
 *
 * @param text the field's value (continuation lines joined with `\n` are fine)
 * @param field the field's name, for the field's own rules and for errors (any case)
 * @param where where the field comes from: a file and stanza, a package
 * @returns the entries; none for an empty field
 * @throws ProvenantError `INVALID_PACKAGE` quoting the field and saying what is wrong
 */
export function parseDebRelations(text: string, field: string, where?: string): DebRelation[][] {
  return new RelationParser(text, field, where).parse();
}

class RelationParser {
  readonly #s: string;
  readonly #field: string;
  readonly #where: string | undefined;
  readonly #rules: string;
  #pos = 0;

  constructor(text: string, field: string, where: string | undefined) {
    this.#s = text;
    this.#field = field;
    this.#where = where;
    this.#rules = field.toLowerCase();
  }

  parse(): DebRelation[][] {
    const entries: DebRelation[][] = [];
    this.#skipSpace();
    while (this.#pos < this.#s.length) {
      if (this.#peek() === 0x2c /* , */) {
        this.#pos++;
        this.#skipSpace();
        continue;
      }
      const alternatives: DebRelation[] = [this.#relation()];
      while (this.#peek() === 0x7c /* | */) {
        if (NO_ALTERNATIVES.has(this.#rules)) throw this.#error(`has alternatives ("|"), which the ${this.#field} field does not allow`);
        this.#pos++;
        this.#skipSpace();
        alternatives.push(this.#relation());
      }
      entries.push(alternatives);
      if (this.#pos < this.#s.length) {
        // #relation stops only at the end, a comma or a bar; the bar was taken above.
        this.#pos++;
        this.#skipSpace();
      }
    }
    return entries;
  }

  /** One alternative, and the spaces after it; it ends at the end, a `,` or a `|`. */
  #relation(): DebRelation {
    const s = this.#s;
    const start = this.#pos;
    while (this.#pos < s.length && !this.#isNameEnd(this.#peek())) this.#pos++;
    const name = s.slice(start, this.#pos);
    if (name === '') throw this.#error(`has no package name at offset ${start}`);
    if (!PACKAGE_NAME.test(name)) {
      throw this.#error(
        `names the package ${JSON.stringify(name)}: a name starts with a letter or digit and holds only letters, digits and "-+._"`,
      );
    }
    const relation: Mutable<DebRelation> = { name };
    if (this.#peek() === 0x3a /* : */) {
      const archStart = ++this.#pos;
      while (this.#pos < s.length && !this.#isNameEnd(this.#peek())) this.#pos++;
      const arch = s.slice(archStart, this.#pos);
      if (!ARCH_NAME.test(arch)) throw this.#error(`has the invalid architecture qualifier ${JSON.stringify(arch)} after ${name}`);
      relation.archQualifier = arch;
    }
    this.#skipSpace();
    if (this.#peek() === 0x28 /* ( */) {
      this.#pos++;
      this.#skipSpace();
      const op = this.#op(name);
      this.#skipSpace();
      const versionStart = this.#pos;
      while (this.#pos < s.length && !isSpace(this.#peek()) && this.#peek() !== 0x29 && this.#peek() !== 0x28) this.#pos++;
      const version = s.slice(versionStart, this.#pos);
      this.#skipSpace();
      if (this.#pos >= s.length) throw this.#error(`has an unterminated version after ${name}`);
      if (this.#peek() !== 0x29 /* ) */)
        throw this.#error(`has ${JSON.stringify(s.charAt(this.#pos))} instead of ")" after the version of ${name}`);
      this.#pos++;
      try {
        parseDebVersion(version);
      } catch (err) {
        throw this.#error(`names the version ${JSON.stringify(version)} for ${name}, which dpkg refuses`, err);
      }
      if (this.#rules === 'provides' && op !== '=') throw this.#error(`provides ${name} with the relation ${op}; Provides only allows "="`);
      relation.op = op;
      relation.version = version;
      this.#skipSpace();
    }
    if (this.#peek() === 0x5b /* [ */) {
      relation.architectures = this.#list(0x5d /* ] */, 'architecture', ARCH_NAME, name);
      this.#skipSpace();
    }
    while (this.#peek() === 0x3c /* < */) {
      relation.profiles = [...(relation.profiles ?? []), this.#list(0x3e /* > */, 'build profile', PROFILE_NAME, name)];
      this.#skipSpace();
    }
    if (this.#pos < s.length && this.#peek() !== 0x2c && this.#peek() !== 0x7c) {
      throw this.#error(`has ${JSON.stringify(s.charAt(this.#pos))} where a "," or "|" should follow ${name}`);
    }
    return relation;
  }

  /** The relation inside the parentheses, as dpkg reads it. */
  #op(name: string): DebConstraintOp {
    const c1 = this.#peek();
    if (c1 === 0x3c /* < */ || c1 === 0x3e /* > */) {
      const c2 = this.#s.charCodeAt(++this.#pos);
      if (c2 === 0x3d /* = */) {
        this.#pos++;
        return c1 === 0x3c ? '<=' : '>=';
      }
      if (c2 === c1) {
        this.#pos++;
        return c1 === 0x3c ? '<<' : '>>';
      }
      if (c2 === 0x3c || c2 === 0x3e) throw this.#error(`has the bad relation ${this.#s.slice(this.#pos - 1, this.#pos + 1)} for ${name}`);
      // The obsolete `<` and `>`, which mean `<=` and `>=`; dpkg warns and takes them.
      return c1 === 0x3c ? '<' : '>';
    }
    // `=`, or a bare version, which dpkg takes as an exact match (with a warning).
    if (c1 === 0x3d) this.#pos++;
    return '=';
  }

  /** A `[...]` or `<...>` list of space-separated terms, each maybe negated with `!`. */
  #list(close: number, what: string, pattern: RegExp, name: string): string[] {
    const s = this.#s;
    const closer = String.fromCharCode(close);
    const end = s.indexOf(closer, this.#pos + 1);
    if (end < 0) throw this.#error(`has an unterminated ${what} list after ${name}`);
    const body = s.slice(this.#pos + 1, end);
    this.#pos = end + 1;
    const terms = body.split(/[ \t\n\v\f\r]+/).filter((t) => t !== '');
    if (terms.length === 0) throw this.#error(`has an empty ${what} list after ${name}`);
    for (const term of terms) {
      if (!pattern.test(term.startsWith('!') ? term.slice(1) : term)) {
        throw this.#error(`has the invalid ${what} ${JSON.stringify(term)} after ${name}`);
      }
    }
    return terms;
  }

  #isNameEnd(c: number): boolean {
    // dpkg stops a name at a space, `:`, `(`, `,` or `|`; `[` and `<` start build restrictions.
    return isSpace(c) || c === 0x3a || c === 0x28 || c === 0x2c || c === 0x7c || c === 0x5b || c === 0x3c;
  }

  #peek(): number {
    return this.#s.charCodeAt(this.#pos);
  }

  #skipSpace(): void {
    while (this.#pos < this.#s.length && isSpace(this.#peek())) this.#pos++;
  }

  #error(why: string, cause?: unknown): ProvenantError {
    const quoted = this.#s.length > MAX_QUOTED ? `${this.#s.slice(0, MAX_QUOTED)}…` : this.#s;
    return new ProvenantError('INVALID_PACKAGE', `the ${this.#field} field ${JSON.stringify(quoted)} ${why}`, {
      where: this.#where,
      cause,
      hint: 'write a relation as name[:arch] [(op version)], alternatives separated by "|" and entries by ",", for example "libc6 (>= 2.36), debconf | debconf-2.0"',
    });
  }
}

/** Formats one alternative: `name[:arch] [(op version)] [[archs]] [<profiles>...]`. */
export function formatDebRelation(r: DebRelation): string {
  let out = r.archQualifier === undefined ? r.name : `${r.name}:${r.archQualifier}`;
  if (r.op !== undefined && r.version !== undefined) out += ` (${r.op} ${r.version})`;
  if (r.architectures !== undefined) out += ` [${r.architectures.join(' ')}]`;
  if (r.profiles !== undefined) for (const p of r.profiles) out += ` <${p.join(' ')}>`;
  return out;
}

/** Formats a relationship field: alternatives joined by ` | `, entries by `, `. */
export function formatDebRelations(entries: readonly (readonly DebRelation[])[]): string {
  return entries.map((alternatives) => alternatives.map(formatDebRelation).join(' | ')).join(', ');
}
