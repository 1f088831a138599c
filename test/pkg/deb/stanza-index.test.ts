// The stanza index of a Packages file, and the lazy candidate index built on it. Both are checked
// against the full parse they stand in for: the index against parseControlStanzas of the
// UTF-8-decoded text (in Debian's own form and in unusual ones: CRLF, comments, other letter case,
// whitespace-only separators), debCandidateIndex against candidateIndex(debCandidates(...)).
// The cached form must refuse bytes that are not an index of the file at hand.
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, writeFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import {
  type DebCandidate,
  type DebPackagesFile,
  debCandidateIndex,
  debCandidates,
  debVersionScheme,
  rankDebCandidates,
} from '../../../src/pkg/deb/candidates.ts';
import { parseControlStanzas } from '../../../src/pkg/deb/control.ts';
import {
  afterLastBlankLine,
  type DebStanzaIndex,
  decodeStanzaIndex,
  eachPiece,
  encodeStanzaIndex,
  indexDebStanzaFile,
  indexDebStanzas,
  MAX_PACKAGES_STANZAS,
  parseDebStanzas,
  StringTable,
  stanzasNamed,
  stanzasProviding,
} from '../../../src/pkg/deb/stanza-index.ts';
import { MAX_PACKAGES_INDEX_SIZE } from '../../../src/pkg/deb/xz.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { candidateIndex, resolve } from '../../../src/pkg/resolve/resolve.ts';
import { useTempDir } from '../../helpers/temp.ts';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const decoder = new TextDecoder('utf-8');

// Package names, and names only ever provided. Few of them, so that stanzas share names.
const NAMES = ['app', 'libc6', 'python3', 'x-y+z'];
const VIRTUAL = ['mail-transport-agent', 'awk'];
/** Every name worth looking up: real, virtual, `:any`, and one nothing has. */
const LOOKUPS = [...NAMES, ...VIRTUAL, ...[...NAMES, ...VIRTUAL].map((n) => `${n}:any`), 'absent', 'app:amd64'];

/** A generated stanza, before it is written out. */
interface Pkg {
  name: string;
  /** '' for no Version field; `1:` is malformed (an epoch and no upstream version). */
  version: string;
  /** undefined for no Architecture field. */
  arch: string | undefined;
  provides: string[] | undefined;
  /** Provides written over several lines, one name a line. */
  folded: boolean;
  multiArch: string | undefined;
  depends: string | undefined;
  recommends: string | undefined;
  description: string[];
  /** undefined for no Priority field. */
  priority: string | undefined;
  /** A field written a second time, after the others: the parse keeps the last. */
  again: [string, string] | undefined;
  /** Where each field goes, as ranks. */
  order: number[];
}

/** White space the scan reads a line of as blank: ASCII's, a CRLF's \r, and Unicode's. */
const WHITE = [
  '',
  ' ',
  '\t',
  '\r',
  '\v',
  '\f',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
];
/** A line of it, blank to the scan. */
const blankLine = fc.array(fc.constantFrom(...WHITE), { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''));

/** What `f` gives, or the error it throws as its code, message and place: for two ways of reading compared. */
function outcome<T>(f: () => T): { value?: T; error?: string } {
  try {
    return { value: f() };
  } catch (err) {
    return { error: isProvenantError(err) ? `${err.code} ${err.message} ${err.where}` : String(err) };
  }
}

const pkg = fc.record<Pkg>({
  name: fc.constantFrom(...NAMES),
  version: fc.constantFrom('1.0-1', '2:0.9', '1.0~rc1', '1.0-1', '1:', ''),
  arch: fc.constantFrom('amd64', 'amd64', 'all', 'arm64', undefined),
  provides: fc.option(
    fc.array(
      fc.tuple(fc.constantFrom(...NAMES, ...VIRTUAL), fc.boolean()).map(([n, versioned]) => (versioned ? `${n} (= 1.0)` : n)),
      { minLength: 1, maxLength: 3 },
    ),
    { nil: undefined },
  ),
  folded: fc.boolean(),
  multiArch: fc.option(fc.constantFrom('allowed', 'same', 'foreign', 'Allowed'), { nil: undefined }),
  depends: fc.option(fc.constantFrom('libc6 (>= 2.36)', 'python3:any, awk | mail-transport-agent', 'libc6:arm64', 'x-y+z (>= )'), {
    nil: undefined,
  }),
  recommends: fc.option(fc.constantFrom('awk', 'x-y+z', 'app (<< 1)'), { nil: undefined }),
  description: fc.array(fc.constantFrom(' café ☕ au lait', ' .', ' Package: not-a-field', '\tProvides: nothing', ' naïve — 日本語'), {
    maxLength: 3,
  }),
  priority: fc.constantFrom('optional', 'extra', 'required', undefined),
  again: fc.option(
    fc.constantFrom<[string, string]>(['Package', 'libc6'], ['Architecture', 'all'], ['Provides', 'awk'], ['Multi-Arch', 'allowed']),
    {
      nil: undefined,
    },
  ),
  order: fc.array(fc.nat(9), { minLength: 9, maxLength: 9 }),
});

/** The fields of a stanza in the order it asks for, each as its lines (the first one's value, then continuations). */
function fieldsOf(p: Pkg, filename: string): [string, string[]][] {
  const fields: [string, string[]][] = [];
  fields.push(['Package', [p.name]]);
  if (p.version !== '') fields.push(['Version', [p.version]]);
  if (p.arch !== undefined) fields.push(['Architecture', [p.arch]]);
  if (p.provides !== undefined)
    fields.push([
      'Provides',
      p.folded ? p.provides.map((n, i, all) => `${i === 0 ? '' : ' '}${n}${i < all.length - 1 ? ',' : ''}`) : [p.provides.join(', ')],
    ]);
  if (p.multiArch !== undefined) fields.push(['Multi-Arch', [p.multiArch]]);
  if (p.depends !== undefined) fields.push(['Depends', [p.depends]]);
  if (p.recommends !== undefined) fields.push(['Recommends', [p.recommends]]);
  if (p.priority !== undefined) fields.push(['Priority', [p.priority]]);
  fields.push(['Filename', [filename]]);
  fields.push(['Description', ['café ☕ synopsis', ...p.description]]);
  const ranked = fields.map((f, i) => [p.order[i] ?? 0, i, f] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out = ranked.map(([, , f]) => f);
  if (p.again !== undefined) out.push([p.again[0], [p.again[1]]]);
  return out;
}

/**
 * How a file is written. Debian's own form: `\n` line ends, empty separator lines, field names as
 * Debian writes them. The unusual forms add CRLF, a comment line, field names in other letter
 * case, separators of only whitespace.
 */
interface Style {
  eol: '\n' | '\r\n';
  /** The lines between two stanzas. */
  separator: string[];
  /** Put a comment line before this line (modulo the number of lines). */
  comment: number | undefined;
  /** The letter case of field names, by line. */
  cases: ('Debian' | 'lower' | 'upper')[];
  lead: boolean;
  finalEol: boolean;
}

const ordinary = fc.record<Style>({
  eol: fc.constant('\n'),
  separator: fc.constantFrom([''], ['', '']),
  comment: fc.constant(undefined),
  cases: fc.constant(['Debian']),
  lead: fc.boolean(),
  finalEol: fc.boolean(),
});

const unusual = fc
  .record<Style>({
    eol: fc.constantFrom('\n', '\r\n'),
    separator: fc.array(fc.constantFrom('', ' ', '\t', ' \t '), { minLength: 1, maxLength: 2 }),
    comment: fc.option(fc.nat(), { nil: undefined }),
    cases: fc.array(fc.constantFrom('Debian', 'lower', 'upper'), { minLength: 1, maxLength: 4 }),
    lead: fc.boolean(),
    finalEol: fc.boolean(),
  })
  .filter((s) => s.eol === '\r\n' || s.comment !== undefined || s.cases.some((c) => c !== 'Debian') || s.separator.some((l) => l !== ''));

function render(pkgs: readonly Pkg[], style: Style, prefix: string): string {
  let fieldLine = 0;
  const name = (field: string): string => {
    const c = style.cases[fieldLine++ % style.cases.length];
    return c === 'lower' ? field.toLowerCase() : c === 'upper' ? field.toUpperCase() : field;
  };
  const lines: string[] = style.lead ? [...style.separator] : [];
  for (const [k, p] of pkgs.entries()) {
    if (k > 0) lines.push(...style.separator);
    for (const [field, [first, ...more]] of fieldsOf(p, `pool/main/${prefix}/${k}_${p.name}.deb`))
      lines.push(`${name(field)}: ${first}`, ...more);
  }
  if (style.comment !== undefined) lines.splice(style.comment % (lines.length + 1), 0, '# a comment: Package: not-a-field');
  return lines.join(style.eol) + (style.finalEol ? style.eol : '');
}

/** The names a parsed stanza provides, read here without the code under test: Provides less versions, and `:any` ones. */
function providedBy(stanza: Record<string, string>): Set<string> {
  const names = (stanza.provides ?? '')
    .split(',')
    .map((p) => p.replace(/\(.*\)/, '').trim())
    .filter((p) => p !== '');
  if (stanza['multi-arch']?.toLowerCase() === 'allowed') names.push(...[stanza.package ?? '', ...names].map((p) => `${p}:any`));
  return new Set(names);
}

/** Checks an index against the full parse of the text it was made from. */
function checkIndex(text: string): DebStanzaIndex {
  const bytes = utf8(text);
  const index = indexDebStanzas(bytes, 'Packages');
  const parsed = parseControlStanzas(text, 'Packages');
  assert.deepEqual(
    index.names.toArray(),
    parsed.map((s) => s.package ?? ''),
  );
  assert.deepEqual(
    index.archs.toArray(),
    parsed.map((s) => s.architecture ?? ''),
  );
  for (const name of LOOKUPS) {
    assert.deepEqual(
      stanzasNamed(index, name),
      [...parsed.keys()].filter((i) => parsed[i]?.package === name),
      `named ${name}`,
    );
    assert.deepEqual(
      stanzasProviding(index, name),
      [...parsed.keys()].filter((i) => providedBy(parsed[i] ?? {}).has(name)),
      `providing ${name}`,
    );
  }
  for (const [i, stanza] of parsed.entries()) {
    const slice = decoder.decode(bytes.subarray(index.starts[i], index.ends[i]));
    assert.deepEqual(parseControlStanzas(slice, 'Packages'), [stanza], `stanza ${i}`);
  }
  return index;
}

describe('indexDebStanzaFile', () => {
  const tempDir = useTempDir('stanza-file');

  /** The index of `text` read from a file in pieces of about `piece` bytes, or the error's message. */
  const both = (path: string, text: string, piece: number) => {
    writeFileSync(path, text);
    return {
      whole: outcome(() => indexDebStanzas(utf8(text), 'Packages')),
      pieces: outcome(() => indexDebStanzaFile(path, 'Packages', piece)),
    };
  };

  it('reads a file in pieces cut after blank lines into the index of the whole file, errors and their lines included (property)', async () => {
    const path = join(await tempDir(), 'Packages');
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), fc.oneof(ordinary, unusual), fc.integer({ min: 1, max: 400 }), (pkgs, style, piece) => {
        const { whole, pieces } = both(path, render(pkgs, style, 'p'), piece);
        assert.deepEqual(pieces, whole);
      }),
      { numRuns: 300 },
    );
    // A malformed line far into the file is named by its line in the whole file.
    const text = `${'Package: a\nVersion: 1\n\n'.repeat(50)}Package: b\nnot a field\n`;
    const { whole, pieces } = both(path, text, 64);
    assert.ok('error' in whole && /line 152 /.test(whole.error ?? ''), JSON.stringify(whole));
    assert.deepEqual(pieces, whole);
  });

  it('places every stanza by its bytes, whatever bytes the file holds, UTF-8 or not, read whole or in pieces (property)', async () => {
    const path = join(await tempDir(), 'Packages');
    const bytesOf = (parts: readonly (string | Uint8Array)[]): Uint8Array =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? utf8(p) : p)));
    // Bytes that are not UTF-8, or that decode to more or fewer bytes than they are: a Latin-1 é,
    // a lone continuation byte, a cut character, a byte order mark, U+FFFD itself, é in UTF-8.
    const odd = fc
      .constantFrom(
        [0xe9],
        [0x80],
        [0xe2, 0x98],
        [0xf0, 0x9f, 0x98],
        [0xff],
        [0xef, 0xbb, 0xbf],
        [0xef, 0xbf, 0xbd],
        [0xc3, 0xa9],
        [0xc0, 0xaf],
      )
      .map((b) => new Uint8Array(b));
    const valueBytes = fc
      .array(
        fc.oneof(
          odd,
          fc.uint8Array({ maxLength: 6 }).map((b) => b.map((x) => (x === 0x0a ? 0x41 : x))),
          fc.constant(utf8('text')),
        ),
        {
          maxLength: 4,
        },
      )
      .map(bytesOf);
    // Stanzas that parse, or nearly: their values (and continuation lines) any bytes but a line feed.
    const stanza = fc
      .record({
        name: fc.constantFrom(...NAMES),
        maintainer: valueBytes,
        description: fc.array(valueBytes, { maxLength: 3 }),
        provides: fc.boolean(),
      })
      .map(({ name, maintainer, description, provides }, k = 0) =>
        bytesOf([
          `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: `,
          maintainer,
          provides ? '\nProvides: awk\n' : '\n',
          `Filename: pool/${name}_${k}.deb\nDescription: synopsis`,
          ...description.flatMap((d) => ['\n ', d]),
        ]),
      );
    const structured = fc
      .tuple(fc.array(stanza, { maxLength: 6 }), fc.constantFrom('\n\n', '\n\n\n', '\n \n'), fc.boolean(), fc.boolean())
      .map(([stanzas, sep, bom, finalEol]) =>
        bytesOf([
          bom ? new Uint8Array([0xef, 0xbb, 0xbf]) : '',
          ...stanzas.flatMap((st, i) => (i === 0 ? [st] : [sep, st])),
          finalEol ? '\n' : '',
        ]),
      );
    // And anything at all, of the same pieces and lines.
    const free = fc
      .array(
        fc.oneof(
          odd,
          fc.uint8Array({ maxLength: 3 }),
          fc.constantFrom('Package: app\n', 'Version: 1\n', '\n', '\n\n', ' x\n', '#', 'A: b', '\r\n').map(utf8),
        ),
        {
          maxLength: 40,
        },
      )
      .map(bytesOf);
    let placed = 0;
    fc.assert(
      fc.property(fc.oneof(structured, structured, free), fc.integer({ min: 1, max: 200 }), (bytes, piece) => {
        const outcome = (f: () => DebStanzaIndex) => {
          try {
            return { index: f() };
          } catch (err) {
            assert.ok(isProvenantError(err, 'INVALID_PACKAGE'), String(err));
            return { error: err.message };
          }
        };
        writeFileSync(path, bytes);
        const whole = outcome(() => indexDebStanzas(bytes, 'Packages'));
        assert.deepEqual(
          outcome(() => indexDebStanzaFile(path, 'Packages', piece)),
          whole,
        );
        // The full parse of the file decoded as a build decodes it.
        let parsed: Record<string, string>[];
        try {
          parsed = parseControlStanzas(decoder.decode(bytes), 'Packages');
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_PACKAGE'));
          assert.deepEqual(whole, { error: err.message });
          return;
        }
        const { index } = whole;
        assert.ok(index !== undefined, JSON.stringify(whole));
        assert.deepEqual(
          index.names.toArray(),
          parsed.map((s) => s.package ?? ''),
        );
        for (const [i, s] of parsed.entries()) {
          const own = bytes.subarray(index.starts[i], index.ends[i]);
          assert.deepEqual(parseControlStanzas(decoder.decode(own), 'Packages'), [s], `stanza ${i}`);
          assert.equal(index.sums[i], crc32(own) | 0);
          placed++;
        }
        // Looked up by name, each stanza is the candidate the full parse gives.
        const want = candidateIndex(debCandidates(parsed, repoOf(0), 'amd64').candidates);
        const got = debCandidateIndex([{ bytes, index, repo: repoOf(0), where: 'Packages' }], 'amd64');
        for (const name of LOOKUPS) {
          assert.deepEqual(got.named(name), want.named(name), `named ${name}`);
          assert.deepEqual(got.providing(name), want.providing(name), `providing ${name}`);
        }
      }),
      { numRuns: 400 },
    );
    assert.ok(placed > 150, `${placed} stanzas placed`);
  });

  it('places the stanzas after a Latin-1 byte where they are', () => {
    const latin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));
    const stanza = (n: string, extra = '') => `Package: ${n}\nVersion: 1.0-1\nArchitecture: amd64\n${extra}Filename: pool/${n}.deb\n`;
    const text = `${stanza('app', 'Maintainer: Ren\xe9 \xe9\xe9\xe9 <r@x>\n')}\n${stanza('libc6')}\n${stanza('python3')}`;
    const bytes = latin1(text);
    const index = indexDebStanzas(bytes, 'Packages');
    assert.deepEqual([...index.starts], [0, text.indexOf('Package: libc6'), text.indexOf('Package: python3')]);
    const got = debCandidateIndex([{ bytes, index, repo: repoOf(0), where: 'Packages' }], 'amd64');
    for (const name of ['app', 'libc6', 'python3'])
      assert.deepEqual(
        got.named(name).map((c) => c.id),
        [`pool/${name}.deb`],
      );
  });

  it('keeps every stanza under its own name when a Package or Provides value runs on to a second line', async () => {
    // A malformed stanza is left for the full parse to refuse; the stanzas around it must stay
    // findable, in a file read whole and in one read in pieces.
    const text =
      'Package: bash\nArchitecture: amd64\n\nPackage: evil\n x\nArchitecture: amd64\nProvides: a,\n b\n\nPackage: curl\nArchitecture: amd64\nProvides: www\n';
    const { whole, pieces } = both(join(await tempDir(), 'Packages'), text, 16);
    for (const { value: index } of [whole, pieces]) {
      assert.ok(index !== undefined);
      assert.deepEqual(index.names.toArray(), ['bash', 'evil\nx', 'curl']);
      assert.deepEqual(index.archs.toArray(), ['amd64', 'amd64', 'amd64']);
      assert.deepEqual(stanzasNamed(index, 'bash'), [0]);
      assert.deepEqual(stanzasNamed(index, 'curl'), [2]);
      assert.deepEqual(stanzasProviding(index, 'www'), [2]);
      assert.deepEqual(stanzasProviding(index, 'b'), [1]);
    }
  });
});

describe('indexDebStanzas', () => {
  const tempDir = useTempDir('stanza-bytes');

  it('indexes names, provides and byte ranges of a small file', () => {
    const text =
      'Package: a\nDescription: café\n\nPackage: b\nArchitecture: all\nDescription: ☕\n more ☕\nProvides: awk, mta (= 1.0)\nMulti-Arch: allowed\n';
    const bytes = utf8(text);
    const index = indexDebStanzas(bytes, 'Packages');
    assert.deepEqual(index.names.toArray(), ['a', 'b']);
    assert.deepEqual(index.archs.toArray(), ['', 'all']);
    // Offsets are in bytes, not characters: é takes 2, ☕ 3.
    assert.deepEqual([...index.starts], [0, utf8('Package: a\nDescription: café\n\n').length]);
    assert.deepEqual([...index.ends], [utf8('Package: a\nDescription: café').length, bytes.length - 1]);
    assert.deepEqual(index.provided.toArray(), ['awk', 'awk:any', 'b:any', 'mta', 'mta:any']);
    assert.deepEqual(stanzasProviding(index, 'mta:any'), [1]);
    assert.deepEqual(stanzasProviding(index, 'a:any'), []);
    assert.deepEqual(stanzasNamed(index, 'b'), [1]);
    assert.deepEqual(stanzasNamed(index, 'c'), []);
  });

  it('agrees with the full parse, for Debian-style files (property)', () => {
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), ordinary, (pkgs, style) => {
        checkIndex(render(pkgs, style, 'p'));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with the full parse, for files with CR, comments, other letter case or whitespace-only separators (property)', () => {
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), unusual, (pkgs, style) => {
        checkIndex(render(pkgs, style, 'p'));
      }),
      { numRuns: 300 },
    );
  });

  it('reads lowercase package: and provides: field names', () => {
    // Field names are case-insensitive; a file written this way must not lose its names.
    const text = 'Package: a\nVersion: 1\n\npackage: b\nprovides: awk\n';
    const index = checkIndex(text);
    assert.deepEqual(index.names.toArray(), ['a', 'b']);
    assert.deepEqual(stanzasProviding(index, 'awk'), [1]);
  });

  it('makes no stanza of a whitespace-only first line', () => {
    // The full parse reads it as a separator, as it would any other whitespace-only line.
    assert.deepEqual(checkIndex('\t\n\nPackage: a\n').names.toArray(), ['a']);
    assert.deepEqual(checkIndex(' ').names.toArray(), []);
  });

  it('scans bytes in memory in pieces cut after blank lines, into the index of them scanned whole (property)', () => {
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), fc.oneof(ordinary, unusual), fc.integer({ min: 1, max: 400 }), (pkgs, style, piece) => {
        const bytes = utf8(render(pkgs, style, 'p'));
        assert.deepEqual(
          outcome(() => indexDebStanzas(bytes, 'Packages', piece)),
          outcome(() => indexDebStanzas(bytes, 'Packages', bytes.length + 1)),
        );
      }),
      { numRuns: 300 },
    );
  });

  // A final read: a line of U+00A0 (or other Unicode white space) is blank to the scan but was no
  // place to cut, so a file of such blank lines was scanned in one piece.
  it('cuts a piece after the last line the scan reads as blank, whatever white space it holds (property)', () => {
    // Bytes that are not white space though they look near it: a cut U+00A0, an overlong one, U+FFFD, U+200B.
    const odd = fc.constantFrom([0xc2], [0xe0, 0x82, 0xa0], [0xc0, 0xa0], [0xef, 0xbf, 0xbd], [0xe2, 0x80, 0x8b], [0xa0], [0xe2, 0x80]);
    const line = fc.oneof(
      blankLine.map(utf8),
      fc.constantFrom('Package: a', 'x', ' y', '\u00a0x').map(utf8),
      fc
        .array(
          fc.oneof(
            odd,
            fc.constantFrom(...WHITE).map((w) => [...utf8(w)]),
          ),
          { minLength: 1, maxLength: 3 },
        )
        .map((p) => new Uint8Array(p.flat())),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.boolean(), (lines, finalEol) => {
        const bytes = Buffer.concat([...lines.flatMap((l, i) => (i === 0 ? [l] : [utf8('\n'), l])), utf8(finalEol ? '\n' : '')]);
        // What the scan reads: each line decoded on its own (a line feed ends any character), blank when trim() leaves nothing.
        const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes).split('\n');
        let want = 0;
        for (let k = text.length - 2, at = bytes.lastIndexOf(0x0a); k >= 1; k--, at = bytes.lastIndexOf(0x0a, at - 1)) {
          if (text[k]?.trim() === '') {
            want = at + 1;
            break;
          }
        }
        assert.equal(afterLastBlankLine(bytes), want, JSON.stringify(text));
      }),
      { numRuns: 1000 },
    );
    for (const blank of ['\u00a0', '\u3000\r', ' \u2028\t', '\ufeff'])
      assert.equal(
        afterLastBlankLine(utf8(`Package: a\n${blank}\nPackage: b`)),
        utf8(`Package: a\n${blank}\n`).length,
        JSON.stringify(blank),
      );
  });

  it('scans a file with blank lines of any white space in pieces of any size into the index of it whole, in memory or on disk (property)', async () => {
    const path = join(await tempDir(), 'Packages');
    const style = fc.record<Style>({
      eol: fc.constantFrom('\n', '\r\n'),
      separator: fc.array(blankLine, { minLength: 1, maxLength: 3 }),
      comment: fc.constant(undefined),
      cases: fc.constant(['Debian']),
      lead: fc.boolean(),
      finalEol: fc.boolean(),
    });
    let stanzas = 0;
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), style, fc.integer({ min: 1, max: 300 }), (pkgs, style, piece) => {
        const bytes = utf8(render(pkgs, style, 'p'));
        const whole = outcome(() => indexDebStanzas(bytes, 'Packages', bytes.length + 1));
        assert.deepEqual(
          outcome(() => indexDebStanzas(bytes, 'Packages', piece)),
          whole,
        );
        writeFileSync(path, bytes);
        assert.deepEqual(
          outcome(() => indexDebStanzaFile(path, 'Packages', piece)),
          whole,
        );
        stanzas += whole.value?.names.length ?? 0;
      }),
      { numRuns: 300 },
    );
    assert.ok(stanzas > 300, `${stanzas} stanzas`);
  });

  // A file whose blank lines are U+00A0 (or other Unicode white space) was cut nowhere, its piece
  // doubled to the whole file: the same stanzas and errors, as the tests above show, but held at
  // once. What a scan reads at a time are the pieces eachPiece cuts, each after its last blank line.
  it('reads a file of blank lines of any white space a piece at a time, each cut after its last blank line', () => {
    for (const blank of ['\n', ' \t\n', '\r\n', '\u00a0\n', '\u3000\r\n', ' \u2028\n', '\ufeff\n']) {
      const stanza = `Package: a\n${blank}`;
      const bytes = Buffer.from(stanza.repeat(1000));
      const size = Buffer.byteLength(stanza);
      const pieces: Buffer[] = [];
      eachPiece(
        bytes.length,
        (offset, length) => bytes.subarray(offset, offset + length),
        64,
        (piece) => pieces.push(piece),
      );
      assert.deepEqual(Buffer.concat(pieces), bytes, JSON.stringify(blank));
      // Each piece as many whole stanzas as 64 bytes hold, the last what is left.
      const each = Math.floor(64 / size) * size;
      assert.equal(pieces.length, Math.ceil(bytes.length / each), JSON.stringify(blank));
      for (const piece of pieces.slice(0, -1)) assert.equal(piece.length, each, JSON.stringify(blank));
    }
  });

  it('refuses a file over 256 MiB, in memory or on disk, before it is scanned: TOO_LARGE naming it', async () => {
    const tooLarge = (err: unknown) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.equal(err.where, 'http://127.0.0.1/Packages');
      assert.match(err.message, new RegExp(`more than ${MAX_PACKAGES_INDEX_SIZE} bytes unpacked \\(256 MiB\\)`));
      return true;
    };
    // Line feeds: a file that scans to nothing, with no error, when it is scanned.
    assert.throws(() => indexDebStanzas(Buffer.alloc(MAX_PACKAGES_INDEX_SIZE + 1, 0x0a), 'http://127.0.0.1/Packages'), tooLarge);
    const path = join(await tempDir(), 'Packages');
    // Sparse: no disk space taken.
    const fd = openSync(path, 'w');
    ftruncateSync(fd, MAX_PACKAGES_INDEX_SIZE + 1);
    closeSync(fd);
    assert.throws(() => indexDebStanzaFile(path, 'http://127.0.0.1/Packages'), tooLarge);
  });

  it('refuses a file of more than 1,000,000 stanzas as it scans it: TOO_LARGE naming it', () => {
    assert.equal(MAX_PACKAGES_STANZAS, 1_000_000);
    assert.throws(
      () => indexDebStanzas(Buffer.from('Package: a\n\n'.repeat(MAX_PACKAGES_STANZAS + 1)), 'http://127.0.0.1/Packages'),
      (err) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        assert.equal(err.where, 'http://127.0.0.1/Packages');
        assert.match(err.message, /has more than 1000000 stanzas/);
        return true;
      },
    );
  });

  // A final read: pieces were cut only after "\n\n", so a file whose blank lines are CRLF's or
  // hold spaces was scanned whole, each of its stanzas indexed, before their count was checked
  // (64 MiB of them: 2.2 GB). Cut after any blank line, and scanned no further than one stanza
  // past the most: the malformed line after them is never reached.
  it('refuses a file of more than 1,000,000 stanzas as it scans it whatever its blank lines, reading no further', () => {
    for (const blank of ['\r\n\r\n', '\n \t\n', '\n\u00a0\n']) {
      const bytes = Buffer.from(`${`Package: a${blank}`.repeat(MAX_PACKAGES_STANZAS + 1)}not a field\n`);
      assert.throws(
        () => indexDebStanzas(bytes, 'http://127.0.0.1/Packages'),
        (err) => isProvenantError(err, 'TOO_LARGE') && /has more than 1000000 stanzas/.test(err.message),
        JSON.stringify(blank),
      );
    }
  });

  it('throws INVALID_PACKAGE for a malformed line in a file the line-by-line scan reads', () => {
    assert.throws(
      () => indexDebStanzas(utf8('Package: a\r\nnot a field\r\n'), 'Packages'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'Packages:2',
    );
  });
});

describe('parseDebStanzas', () => {
  // The stanzas of a fetched index (fetch-index.ts, its `packages`) are parsed a piece of the file
  // at a time, never from the whole file's text: they, and the errors, must be the same.
  it('gives the stanzas and errors of the whole text parsed at once, in pieces of any size, whatever its bytes and blank lines (property)', () => {
    const style = fc.record<Style>({
      eol: fc.constantFrom('\n', '\r\n'),
      separator: fc.array(blankLine, { minLength: 1, maxLength: 2 }),
      comment: fc.option(fc.nat(), { nil: undefined }),
      cases: fc.array(fc.constantFrom('Debian', 'lower', 'upper'), { minLength: 1, maxLength: 4 }),
      lead: fc.boolean(),
      finalEol: fc.boolean(),
    });
    // Bytes spliced in somewhere: a byte order mark, a Latin-1 é, a cut character, a malformed line.
    const splice = fc.option(
      fc.tuple(fc.nat(), fc.constantFrom([0xef, 0xbb, 0xbf], [0xe9], [0xe2, 0x98], [0x0a, 0x78, 0x0a], [0x0a, 0x20, 0x78])),
      { nil: undefined },
    );
    let stanzas = 0;
    fc.assert(
      fc.property(
        fc.array(pkg, { maxLength: 8 }),
        fc.oneof(ordinary, unusual, style),
        splice,
        fc.boolean(),
        fc.integer({ min: 1, max: 300 }),
        (pkgs, style, spliced, bom, piece) => {
          let bytes = Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), utf8(render(pkgs, style, 'p'))]);
          if (spliced !== undefined) {
            const at = spliced[0] % (bytes.length + 1);
            bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(spliced[1]), bytes.subarray(at)]);
          }
          const whole = outcome(() => parseControlStanzas(decoder.decode(bytes), 'Packages'));
          assert.deepEqual(
            outcome(() => parseDebStanzas(bytes, 'Packages', piece)),
            whole,
          );
          stanzas += whole.value?.length ?? 0;
        },
      ),
      { numRuns: 500 },
    );
    assert.ok(stanzas > 500, `${stanzas} stanzas`);
  });

  it('refuses a file of more than 1,000,000 stanzas, as a build does: TOO_LARGE naming it', () => {
    assert.throws(
      () => parseDebStanzas(Buffer.from('Package: a\n\n'.repeat(MAX_PACKAGES_STANZAS + 1)), 'http://127.0.0.1/Packages'),
      (err) => isProvenantError(err, 'TOO_LARGE') && err.where === 'http://127.0.0.1/Packages',
    );
  });
});

describe('StringTable', () => {
  it('gives back each string, empty and non-ASCII ones too (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' })), (strings) => {
        const table = StringTable.of(strings);
        assert.equal(table.length, strings.length);
        assert.deepEqual(table.toArray(), strings);
        for (const [i, s] of strings.entries()) assert.equal(table.at(i), s);
      }),
    );
  });
});

describe('encodeStanzaIndex and decodeStanzaIndex', () => {
  const text = render(
    fc.sample(pkg, { numRuns: 6, seed: 1 }).map((p) => ({ ...p, provides: ['awk', 'mail-transport-agent (= 1.0)'], multiArch: 'allowed' })),
    { eol: '\n', separator: [''], comment: undefined, cases: ['Debian'], lead: false, finalEol: true },
    'p',
  );
  const size = utf8(text).length;
  const index = indexDebStanzas(utf8(text), 'Packages');
  const encoded = encodeStanzaIndex(index);
  /** The encoded index as a plain object, to damage and encode again. */
  const plain = (): Record<string, unknown> => deserialize(encoded) as Record<string, unknown>;

  it('round-trips generated indexes (property)', () => {
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), fc.oneof(ordinary, unusual), (pkgs, style) => {
        const bytes = utf8(render(pkgs, style, 'p'));
        const made = indexDebStanzas(bytes, 'Packages');
        assert.deepEqual(decodeStanzaIndex(encodeStanzaIndex(made), bytes.length), made);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses truncated bytes and garbage', () => {
    assert.ok(index.provided.length > 0 && decodeStanzaIndex(encoded, size) !== undefined);
    for (let n = 0; n < encoded.length; n++) assert.equal(decodeStanzaIndex(encoded.subarray(0, n), size), undefined, `${n} bytes`);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => {
        assert.equal(decodeStanzaIndex(garbage, size), undefined);
      }),
    );
  });

  it('refuses other serialized values and other formats', () => {
    for (const value of [
      null,
      'x',
      42,
      [1, 2],
      {},
      { ...plain(), format: 'provenant-deb-stanza-index/1' },
      { ...index, format: 'provenant-deb-stanza-index/1' },
      { ...index, format: 'provenant-deb-stanza-index/2' },
      { ...plain(), format: undefined },
    ])
      assert.equal(decodeStanzaIndex(serialize(value), size), undefined, JSON.stringify(value));
  });

  type Damage = [string, (v: Record<string, unknown>) => void];
  /** Damage to the index's format, types and lengths: refused with checked too. */
  const shapes: Damage[] = [
    ['another format', (v) => (v.format = 'provenant-deb-stanza-index/1')],
    ['names not a table', (v) => (v.names = 'app')],
    ['names as an array', (v) => (v.names = index.names.toArray())],
    ['names as a string', (v) => (v.names = { text: index.names.text, ends: index.names.ends })],
    ['name ends a plain array', (v) => (v.names = { ...(v.names as object), ends: [...index.names.ends] })],
    ['name ends going back', (v) => (v.names = { ...(v.names as object), ends: index.names.ends.slice().reverse() })],
    ['name ends short of the text', (v) => (v.names = { ...(v.names as object), ends: index.names.ends.map((e) => e - 1) })],
    ['name ends past the text', (v) => (v.names = { ...(v.names as object), ends: index.names.ends.map((e) => e + 1) })],
    ['a name fewer', (v) => (v.names = { ...(v.names as object), ends: index.names.ends.slice(1) })],
    ['provided names short', (v) => (v.provided = { ...(v.provided as object), ends: index.provided.ends.slice(1) })],
    ['an architecture short', (v) => (v.archs = { ...(v.archs as object), ends: index.archs.ends.slice(1) })],
    ['text not UTF-8', (v) => (v.names = { text: Uint8Array.from([0xff, ...utf8(index.names.text).subarray(1)]), ends: index.names.ends })],
    ['starts a plain array', (v) => (v.starts = [...index.starts])],
    ['providers a Uint32Array', (v) => (v.providers = Uint32Array.from(index.providers))],
    ['an end short', (v) => (v.ends = index.ends.slice(1))],
    ['a provider short', (v) => (v.providers = index.providers.slice(1))],
    ['the last end past the file', (v) => (v.ends = Int32Array.from(index.ends, (e, i) => (i === index.ends.length - 1 ? size + 1 : e)))],
  ];

  it('refuses an index whose parts do not fit together', () => {
    const n = index.names.length;
    // Each offset and number in range: what decodeStanzaIndex walks unless the bytes are checked.
    const elements: Damage[] = [
      ['byName past the stanzas', (v) => (v.byName = Int32Array.from(index.byName, (s, i) => (i === 0 ? n : s)))],
      ['a provider past the stanzas', (v) => (v.providers = Int32Array.from(index.providers, (s, i) => (i === 0 ? n : s)))],
      ['a negative provider', (v) => (v.providers = Int32Array.from(index.providers, (s, i) => (i === 0 ? -1 : s)))],
      ['a negative start', (v) => (v.starts = Int32Array.from(index.starts, (s, i) => (i === 0 ? -1 : s)))],
      ['a start after its end', (v) => (v.starts = Int32Array.from(index.starts, (s, i) => (i === 1 ? (index.ends[1] ?? 0) + 1 : s)))],
      ['an end past the file', (v) => (v.ends = Int32Array.from(index.ends, (e, i) => (i === 0 ? size + 1 : e)))],
    ];
    const damaged = [...shapes, ...elements];
    for (const [why, damage] of damaged) {
      const v = plain();
      damage(v);
      assert.equal(decodeStanzaIndex(serialize(v), size), undefined, why);
    }
  });

  it('refuses the index of a larger file', () => {
    const last = Math.max(...index.ends);
    for (const checked of [false, true]) {
      assert.ok(decodeStanzaIndex(encoded, last, { checked }) !== undefined);
      assert.equal(decodeStanzaIndex(encoded, last - 1, { checked }), undefined);
      assert.equal(decodeStanzaIndex(encoded, 0, { checked }), undefined);
    }
  });

  it('with checked (bytes the cache vouches for): the same index, and still no other format, shape or garbage', () => {
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 8 }), fc.oneof(ordinary, unusual), (pkgs, style) => {
        const bytes = utf8(render(pkgs, style, 'p'));
        const made = indexDebStanzas(bytes, 'Packages');
        assert.deepEqual(decodeStanzaIndex(encodeStanzaIndex(made), bytes.length, { checked: true }), made);
      }),
      { numRuns: 100 },
    );
    const checked = { checked: true };
    for (let n = 0; n < encoded.length; n++)
      assert.equal(decodeStanzaIndex(encoded.subarray(0, n), size, checked), undefined, `${n} bytes`);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (garbage) => assert.equal(decodeStanzaIndex(garbage, size, checked), undefined)),
    );
    for (const [why, damage] of shapes) {
      const v = plain();
      damage(v);
      assert.equal(decodeStanzaIndex(serialize(v), size, checked), undefined, why);
    }
  });

  const cacheDir = useTempDir('stanza-index');
  it('a damaged index the cache keeps is refused by the cache, before it is decoded with checked', async () => {
    // Bytes of the encoded index that, changed, still decode with checked, to another index: the
    // damage that only the cache's check finds.
    const silent: number[] = [];
    for (let at = 0; at < encoded.length; at++) {
      const damaged = Uint8Array.from(encoded);
      damaged[at]! ^= 1;
      const decoded = decodeStanzaIndex(damaged, size, { checked: true });
      if (decoded !== undefined && !isDeepStrictEqual(decoded, index)) silent.push(at);
    }
    assert.ok(silent.length > 0);
    const dir = await cacheDir();
    const cache = new DownloadCache(dir);
    await cache.put('deb-stanza-index:v2:test', encoded);
    const [blob] = await readdir(join(dir, 'sha256'));
    assert.ok(blob !== undefined);
    assert.deepEqual(decodeStanzaIndex((await cache.get('deb-stanza-index:v2:test'))!, size, { checked: true }), index);
    for (const at of silent) {
      const damaged = Uint8Array.from(encoded);
      damaged[at]! ^= 1;
      await writeFile(join(dir, 'sha256', blob), damaged);
      assert.equal(await cache.get('deb-stanza-index:v2:test'), undefined, `byte ${at}`);
    }
  });
});

const repoOf = (order: number) => ({ url: `https://mirror.invalid/r${order}`, suite: 'bookworm', component: 'main', order });

/** Packages files as debCandidateIndex takes them, with the texts they hold. */
function packagesFiles(files: readonly (readonly Pkg[])[], styles: readonly Style[]): { texts: string[]; files: DebPackagesFile[] } {
  const texts = files.map((pkgs, f) => render(pkgs, styles[f % styles.length] as Style, `f${f}`));
  return {
    texts,
    files: texts.map((text, f) => {
      const bytes = utf8(text);
      return { bytes, index: indexDebStanzas(bytes, `f${f}`), repo: repoOf(f), where: `f${f}` };
    }),
  };
}

/** What debCandidates makes of the whole files, the reference for debCandidateIndex. */
function eagerCandidates(texts: readonly string[], arch: string, withRecommends: boolean): DebCandidate[] {
  return rankDebCandidates(
    texts.flatMap(
      (text, f) => debCandidates(parseControlStanzas(text, `f${f}`), repoOf(f), arch, { withRecommends, where: `f${f}` }).candidates,
    ),
  );
}

describe('debCandidateIndex', () => {
  it('gives the candidates debCandidates gives, in the same order, across files (property)', () => {
    let looked = 0;
    let skipped = 0;
    fc.assert(
      fc.property(
        fc.array(fc.array(pkg, { maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.oneof(ordinary, unusual), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('amd64', 'arm64'),
        fc.boolean(),
        (pkgs, styles, arch, withRecommends) => {
          const { texts, files } = packagesFiles(pkgs, styles);
          const list = eagerCandidates(texts, arch, withRecommends);
          skipped += texts.reduce((sum, t, f) => sum + debCandidates(parseControlStanzas(t, 'f'), repoOf(f), arch).skipped.length, 0);
          const want = candidateIndex(list);
          const got = debCandidateIndex(files, arch, { withRecommends });
          for (const name of LOOKUPS) {
            const named = got.named(name);
            looked += named.length;
            assert.deepEqual(named, want.named(name), `named ${name}`);
            assert.deepEqual(got.providing(name), want.providing(name), `providing ${name}`);
          }
          assert.deepEqual([...got.withInstallIf()], [...want.withInstallIf()]);
          // And the resolver, given either, chooses the same.
          const outcome = (c: typeof list | typeof got) => {
            try {
              return resolve([{ name: 'app' }], c, debVersionScheme).packages.map((p) => p.id);
            } catch (err) {
              assert.ok(isProvenantError(err, 'UNRESOLVABLE', 'NOT_FOUND'), String(err));
              return err.message;
            }
          };
          assert.deepEqual(outcome(debCandidateIndex(files, arch, { withRecommends })), outcome(list));
        },
      ),
      { numRuns: 300 },
    );
    // The comparison is not of empty lists only, and malformed stanzas were among the generated.
    assert.ok(looked > 200 && skipped > 50, `${looked} candidates looked up, ${skipped} stanzas skipped`);
  });

  it('leaves out stanzas of another architecture and malformed ones', () => {
    const text = [
      'Package: app\nVersion: 1\nArchitecture: amd64\nFilename: a1',
      'Package: app\nVersion: 1:\nArchitecture: amd64\nFilename: a2',
      'Package: app\nVersion: 2\nFilename: a3',
      'Package: app\nVersion: 3\nArchitecture: arm64\nFilename: a4',
      'Package: app\nVersion: 4\nArchitecture: all\nDepends: b (>= )\nFilename: a5',
      'Package: app\nVersion: 5\nArchitecture: all\nFilename: a6',
    ].join('\n\n');
    const bytes = utf8(text);
    const got = debCandidateIndex([{ bytes, index: indexDebStanzas(bytes, 'P'), repo: repoOf(0), where: 'P' }], 'amd64');
    assert.deepEqual(
      got.named('app').map((c) => c.id),
      ['a1', 'a6'],
    );
  });

  it('refuses (IO, naming it) a stanza whose text is not the one its index names, rather than leaving it out', () => {
    const text =
      'Package: app\nVersion: 1\nArchitecture: amd64\nProvides: awk\nFilename: a\n\nPackage: libc6\nVersion: 2\nArchitecture: amd64\nFilename: l\n';
    const bytes = utf8(text);
    const index = indexDebStanzas(bytes, 'P');
    const file = (lie: DebStanzaIndex): DebPackagesFile[] => [{ bytes, index: lie, repo: repoOf(0), where: 'P' }];
    assert.deepEqual(
      debCandidateIndex(file(index), 'amd64')
        .named('app')
        .map((c) => c.id),
      ['a'],
    );
    // The ranges of the two stanzas swapped, with their CRC-32s: each name now points at the other's text.
    const swapped = {
      ...index,
      starts: index.starts.slice().reverse(),
      ends: index.ends.slice().reverse(),
      sums: index.sums.slice().reverse(),
    };
    const unreadable = (name: string) => (err: unknown) => {
      assert.ok(isProvenantError(err, 'IO'), String(err));
      assert.match(err.message, new RegExp(`are not the stanza of "${name}" its index names`));
      assert.equal(err.where, 'P');
      return true;
    };
    assert.throws(() => debCandidateIndex(file(swapped), 'amd64').named('app'), unreadable('app'));
    assert.throws(() => debCandidateIndex(file(swapped), 'amd64').named('libc6'), unreadable('libc6'));
    assert.throws(() => debCandidateIndex(file(swapped), 'amd64').providing('awk'), unreadable('app'));
    // A name the text does not have.
    const renamed = { ...index, names: StringTable.of(['evil', 'libc6']), byName: Int32Array.from([0, 1]) };
    assert.deepEqual(stanzasNamed(renamed, 'evil'), [0]);
    assert.throws(() => debCandidateIndex(file(renamed), 'amd64').named('evil'), unreadable('evil'));
    // Bytes of more than one stanza (what an offset shifted by a byte that is not UTF-8 gave).
    const wide = { ...index, ends: Int32Array.from([bytes.length, index.ends[1] ?? 0]) };
    wide.sums[0] = crc32(bytes) | 0;
    assert.throws(() => debCandidateIndex(file(wide), 'amd64').named('app'), unreadable('app'));
    // Ranges that do not hold the bytes the index was made from: the file is damaged, and read no further.
    const moved = { ...index, starts: index.starts.slice().reverse(), ends: index.ends.slice().reverse() };
    assert.throws(() => debCandidateIndex(file(moved), 'amd64').named('app'), /the stanza of "app" differs from the one indexed/);
    const changed = utf8(text.replace('Provides: awk', 'Provides: awx'));
    assert.throws(
      () => debCandidateIndex([{ bytes: changed, index, repo: repoOf(0), where: 'P' }], 'amd64').named('app'),
      (err: unknown) => isProvenantError(err, 'IO'),
    );
  });

  it('takes the architecture of a stanza from its text, not from the index', () => {
    // An arm64 stanza that a damaged index calls amd64 is never a candidate for amd64: refused.
    const text = 'Package: app\nVersion: 1\nArchitecture: arm64\nFilename: a\n';
    const bytes = utf8(text);
    const index = indexDebStanzas(bytes, 'P');
    const lie = { ...index, archs: StringTable.of(['amd64']) };
    assert.deepEqual(debCandidateIndex([{ bytes, index, repo: repoOf(0), where: 'P' }], 'amd64').named('app'), []);
    assert.throws(
      () => debCandidateIndex([{ bytes, index: lie, repo: repoOf(0), where: 'P' }], 'amd64').named('app'),
      (err: unknown) => isProvenantError(err, 'IO'),
    );
  });

  it('never gives a candidate under a wrong name from an index with shuffled ranges (property)', () => {
    let found = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        fc.array(pkg, { minLength: 1, maxLength: 8 }),
        fc.oneof(ordinary, unusual),
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        (pkgs, style, keys) => {
          const { texts, files } = packagesFiles([pkgs], [style]);
          const stanzas = parseControlStanzas(texts[0] as string, 'f0');
          const file = files[0] as DebPackagesFile;
          const n = file.index.names.length;
          const perm = [...Array(n).keys()].sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0) || a - b);
          const lie = {
            ...file.index,
            starts: Int32Array.from(perm, (p) => file.index.starts[p] ?? 0),
            ends: Int32Array.from(perm, (p) => file.index.ends[p] ?? 0),
            sums: Int32Array.from(perm, (p) => file.index.sums[p] ?? 0),
          };
          const got = debCandidateIndex([{ ...file, index: lie }], 'amd64');
          // Refused (IO), or the candidates of that name.
          const lookup = <T>(f: () => readonly T[]): readonly T[] => {
            try {
              return f();
            } catch (err) {
              assert.ok(isProvenantError(err, 'IO'), String(err));
              refused++;
              return [];
            }
          };
          for (const name of LOOKUPS) {
            for (const c of lookup(() => got.named(name))) {
              found++;
              assert.equal(c.name, name);
              // A stanza of the file, of that name.
              assert.ok(
                stanzas.some((s) => s.filename === c.id && s.package === name),
                c.id,
              );
            }
            for (const { candidate, provision } of lookup(() => got.providing(name))) {
              assert.equal(provision.name, name);
              assert.ok(candidate.provides.includes(provision));
              assert.ok(stanzas.some((s) => s.filename === candidate.id && s.package === candidate.name));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
    assert.ok(found > 20 && refused > 50, `${found} candidates, ${refused} lookups refused`);
  });
});
