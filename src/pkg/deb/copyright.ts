/**
 * A Debian package's license from its /usr/share/doc/<package>/copyright, when that file is
 * machine-readable: the Debian copyright format 1.0 (DEP-5,
 * https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/). Any other copyright file is
 * prose, and gives no license: the SBOMs then say NOASSERTION rather than guess from its words.
 *
 * The license is the conjunction of the `License` synopses of the header and of every `Files`
 * paragraph (each names the licenses of a group of the package's files, so the package is under
 * all of them). A standalone `License` paragraph only gives the text of a short name those use:
 * it adds no license of its own (were its name added, a choice such as `GPL-1+ or Artistic` would
 * read as both). A synopsis is a license expression over short names: `or` and `and` (`and` binds
 * tighter), a comma before either making it bind loosest (`A or B, and C` is `(A or B) and C`),
 * `NAME with WORDS exception` (or `NAME with WORDS-exception`) for an exception. Short names become
 * SPDX ids where the format says they match one (`GPL-2+` is `GPL-2.0-or-later`, `Expat` is `MIT`,
 * `Apache-2` is `Apache-2.0`); names the format defines with no SPDX id (`public-domain`, a GPL of
 * no version, `Perl`) become `LicenseRef-…`; any other name is kept as written, and the SBOM
 * writers take it as the SPDX id it names or make it a `LicenseRef-` (../../sbom/spdx.ts). An
 * exception becomes `NAME WITH <SPDX exception id>` only where its words name exactly one text
 * of the SPDX exception list ({@link EXCEPTIONS}); any other, the format's own `OpenSSL` among
 * them, stays one `LicenseRef-…` of the whole, as the SBOMs cannot say more without guessing.
 *
 * Syft reads the same files (anchore/syft, syft/pkg/cataloger/debian/parse_copyright.go): it
 * lists each `License:` line's first word; this keeps the operators.
 */

/** Copyright files larger than this are not read: the largest in Debian 12's main are some hundreds of KiB. */
export const DEB_COPYRIGHT_MAX_BYTES = 1024 * 1024;

/**
 * The `Format` of a machine-readable copyright file: format 1.0, or the DEP-5 drafts' URL it
 * replaced, or a draft's revision in Debian's old version control browsers
 * (`http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135`), which packages of that
 * time name; their `Files` and `License` fields are read as 1.0's.
 */
const FORMAT =
  /^<?https?:\/\/(?:www\.)?debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?>?$|^<?https?:\/\/(?:dep\.debian\.net|dep-team\.pages\.debian\.net)\/deps\/dep5\/?>?$|^<?https?:\/\/(?:svn|anonscm)\.debian\.org\/[^\s<>]*\/deps\/dep5\.mdwn(?:\?[^\s<>]*)?>?$/i;

/** One paragraph's fields: lower-case name → value (its first line, then its continuation lines). */
type Paragraph = Map<string, string[]>;

/** deb822 paragraphs: fields `Name: value`, continuation lines starting with a space or tab, paragraphs apart by blank lines. */
function paragraphs(text: string): Paragraph[] | undefined {
  const out: Paragraph[] = [];
  let current: Paragraph | undefined;
  let field: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      current = undefined;
      field = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (field === undefined) return undefined;
      field.push(line.trim());
      continue;
    }
    // Comment lines are allowed between fields (deb822(5)).
    if (line.startsWith('#')) continue;
    const m = /^([^\s:]+):(.*)$/.exec(line);
    if (m === null) return undefined;
    if (current === undefined) {
      current = new Map();
      out.push(current);
    }
    field = [(m[2] as string).trim()];
    current.set((m[1] as string).toLowerCase(), field);
  }
  return out;
}

/** GNU licenses by their short names' family, with the versions SPDX has an id for. */
const GNU: Record<string, { id: string; versions: string[] }> = {
  gpl: { id: 'GPL', versions: ['1.0', '2.0', '3.0'] },
  lgpl: { id: 'LGPL', versions: ['2.0', '2.1', '3.0'] },
  agpl: { id: 'AGPL', versions: ['1.0', '3.0'] },
  gfdl: { id: 'GFDL', versions: ['1.1', '1.2', '1.3'] },
  'gfdl-niv': { id: 'GFDL', versions: ['1.1', '1.2', '1.3'] },
};

/** Short names whose SPDX id has a version of the form N.0 the short name may leave out (`Apache-2`), by the SPDX spelling. */
const VERSIONED: Record<string, string> = {
  apache: 'Apache',
  artistic: 'Artistic',
  mpl: 'MPL',
  cddl: 'CDDL',
  epl: 'EPL',
  'cc-by': 'CC-BY',
  'cc-by-sa': 'CC-BY-SA',
  'cc-by-nd': 'CC-BY-ND',
  'cc-by-nc': 'CC-BY-NC',
  'cc-by-nc-sa': 'CC-BY-NC-SA',
  'cc-by-nc-nd': 'CC-BY-NC-ND',
  ofl: 'OFL',
  zope: 'ZPL',
};

/** `LicenseRef-` and the text, each run of characters an SPDX id cannot hold made `-`, `+` made `-or-later`. */
function licenseRef(text: string): string {
  const id = text
    .replace(/\+/g, '-or-later')
    .replace(/[^A-Za-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `LicenseRef-${id === '' ? 'unknown' : id}`;
}

/**
 * The exceptions whose words name one exception of the SPDX list exactly, by those words (lower
 * case, joined by `-`, without `exception`), to the list's id (tests check each is on
 * ../../sbom/spdx-licenses.ts's list; this module is below the SBOM writers and does not read it).
 *
 * DEP-5 defines two keywords. `Font` is "the precise text" of the GPL font exception in the FSF's
 * GPL FAQ (https://www.gnu.org/licenses/gpl-faq.html#FontException), which is SPDX's
 * `Font-exception-2.0`. `OpenSSL` is a text of the format's own, giving permission "under certain
 * conditions as described in each individual source file": it is none of SPDX's OpenSSL
 * exceptions, each of one project's wording (`openvpn-openssl-exception`, ...), so it is left
 * out. The rest are words that spell an id of the list (`LLVM exception`, `Classpath-2.0
 * exception`, `GCC-runtime-3.1 exception`); an exception named without the version its id has
 * (`Classpath`, `Bison`, `Autoconf`, `GCC-runtime`, each with several texts over the years) is
 * left out too.
 */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  font: 'Font-exception-2.0',
  'font-2.0': 'Font-exception-2.0',
  llvm: 'LLVM-exception',
  'classpath-2.0': 'Classpath-exception-2.0',
  'gcc-2.0': 'GCC-exception-2.0',
  'gcc-3.1': 'GCC-exception-3.1',
  'gcc-runtime-3.1': 'GCC-exception-3.1',
  'gcc-runtime-library-3.1': 'GCC-exception-3.1',
  'bison-1.24': 'Bison-exception-1.24',
  'bison-2.2': 'Bison-exception-2.2',
  'autoconf-2.0': 'Autoconf-exception-2.0',
  'autoconf-3.0': 'Autoconf-exception-3.0',
};

/** The exceptions {@link EXCEPTIONS} maps, for tests. */
export const DEP5_SPDX_EXCEPTIONS: Readonly<Record<string, string>> = EXCEPTIONS;

/** The end of an exception's words: the word `exception`, or a word ending in `-exception`. */
const isExceptionEnd = (token: string): boolean => /^(?:.*-)?exception$/i.test(token);

/**
 * `NAME with WORDS exception` as an SPDX expression: `NAME WITH <id>` when {@link EXCEPTIONS}
 * knows the words, else one `LicenseRef-` of the whole phrase.
 */
function exceptionExpression(name: string, words: readonly string[]): string {
  const key = words
    .join('-')
    .toLowerCase()
    .replace(/-?exception$/, '');
  const id = Object.hasOwn(EXCEPTIONS, key) ? EXCEPTIONS[key] : undefined;
  return id === undefined ? licenseRef([name, 'with', ...words].join('-')) : `${licenseOfName(name)} WITH ${id}`;
}

/** A short name as the SBOMs name it: an SPDX id, a `LicenseRef-`, or the name itself (see the module's comment). */
function licenseOfName(name: string): string {
  const lower = name.toLowerCase();
  if (lower === 'expat') return 'MIT';
  if (lower === 'cc0') return 'CC0-1.0';
  if (lower === 'public-domain' || lower === 'perl' || lower === 'python') return licenseRef(name);
  const bsd = /^bsd-([234])-clause$/i.exec(name);
  if (bsd !== null) return `BSD-${bsd[1]}-Clause`;
  const gnu = /^(agpl|lgpl|gpl|gfdl-niv|gfdl)(?:-|v)?(\d+(?:\.\d+)?)?(\+|-or-later|-only)?$/i.exec(name);
  if (gnu !== null) {
    const family = GNU[(gnu[1] as string).toLowerCase()] as { id: string; versions: string[] };
    const version = gnu[2] === undefined ? undefined : gnu[2].includes('.') ? gnu[2] : `${gnu[2]}.0`;
    // A GPL of no version, or of one SPDX does not know, is no SPDX license.
    if (version === undefined || !family.versions.includes(version)) return licenseRef(name);
    const later = gnu[3] === '+' || gnu[3]?.toLowerCase() === '-or-later';
    const niv = (gnu[1] as string).toLowerCase() === 'gfdl-niv' ? '-no-invariants' : '';
    return `${family.id}-${version}${niv}-${later ? 'or-later' : 'only'}`;
  }
  const versioned = /^([a-z-]+?)-(\d+)(\+?)$/i.exec(name);
  const family = versioned === null ? undefined : VERSIONED[(versioned[1] as string).toLowerCase()];
  if (versioned !== null && family !== undefined) return `${family}-${versioned[2]}.0${versioned[3]}`;
  // As written when the SPDX grammar reads it as a license id: not its words `NONE` and
  // `NOASSERTION`, nor a reference to another document or an empty `LicenseRef-`.
  if (/^[A-Za-z0-9.-]+$/.test(name) && !/^(?:NONE|NOASSERTION|DocumentRef-.*|LicenseRef-)$/.test(name)) return name;
  return licenseRef(name);
}

/** One comma-free part of a synopsis as an SPDX expression: terms joined by `and`/`or`; undefined when it is not one. */
function partExpression(part: string): string | undefined {
  const tokens = part.split(/\s+/).filter((t) => t !== '');
  const out: string[] = [];
  let i = 0;
  for (;;) {
    const name = tokens[i++];
    if (name === undefined || /^(?:and|or|with)$/i.test(name)) return undefined;
    if (tokens[i]?.toLowerCase() === 'with') {
      // `NAME with WORDS exception`, or `WORDS-exception`: an exception the format names in words.
      // Searched from here, not from the start: a synopsis repeating `A with B exception or`
      // would otherwise take time growing with the square of its length.
      let end = i + 1;
      while (end < tokens.length && !isExceptionEnd(tokens[end]!)) end++;
      // No words at all (`A with exception`) names no exception.
      if (end >= tokens.length || (end === i + 1 && tokens[end]!.toLowerCase() === 'exception')) return undefined;
      out.push(exceptionExpression(name, tokens.slice(i + 1, end + 1)));
      i = end + 1;
    } else {
      out.push(licenseOfName(name));
    }
    const op = tokens[i++];
    if (op === undefined) return out.join(' ');
    if (!/^(?:and|or)$/i.test(op)) return undefined;
    out.push(op.toUpperCase());
  }
}

const parenthesized = (e: string) => (e.includes(' ') ? `(${e})` : e);

/** A `License` synopsis as an SPDX expression; undefined when it is not one (prose, a list without operators). */
export function dep5LicenseExpression(synopsis: string): string | undefined {
  const parts = synopsis.trim().split(/\s*,\s*/);
  let expression = partExpression(parts[0] ?? '');
  for (const part of parts.slice(1)) {
    const m = /^(and|or)\s+(.*)$/i.exec(part);
    const next = m === null ? undefined : partExpression(m[2] as string);
    if (expression === undefined || m === null || next === undefined) return undefined;
    expression = `${parenthesized(expression)} ${(m[1] as string).toUpperCase()} ${parenthesized(next)}`;
  }
  return expression;
}

/**
 * The license of a Debian package from the bytes of its copyright file: an expression over SPDX
 * ids, `LicenseRef-…` and other short names as written (see the module's comment), or '' when
 * the file is not machine-readable, is larger than {@link DEB_COPYRIGHT_MAX_BYTES}, or has a
 * `Files` paragraph whose license is missing or is not an expression: a part of the package
 * whose license is unknown leaves the whole unknown.
 */
export function debCopyrightLicense(bytes: Uint8Array): string {
  if (bytes.length > DEB_COPYRIGHT_MAX_BYTES) return '';
  const parsed = paragraphs(new TextDecoder().decode(bytes));
  const [header, ...rest] = parsed ?? [];
  // The drafts before 2010 named the field Format-Specification.
  const format = (header?.get('format') ?? header?.get('format-specification'))?.join(' ').trim();
  if (format === undefined || !FORMAT.test(format)) return '';
  const synopses: string[] = [];
  // The header's License is optional, and some write only prose there, under an empty first line.
  const headerLicense = header?.get('license')?.[0];
  if (headerLicense !== undefined && headerLicense !== '') synopses.push(headerLicense);
  let files = 0;
  for (const p of rest) {
    if (!p.has('files')) continue;
    files++;
    const synopsis = p.get('license')?.[0];
    if (synopsis === undefined || synopsis === '') return '';
    synopses.push(synopsis);
  }
  if (files === 0) return '';
  const expressions = new Set<string>();
  for (const s of synopses) {
    const e = dep5LicenseExpression(s);
    if (e === undefined) return '';
    expressions.add(e);
  }
  const sorted = [...expressions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.length === 1 ? (sorted[0] as string) : sorted.map(parenthesized).join(' AND ');
}
