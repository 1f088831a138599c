// Debian control stanzas: the format's corners, generated stanzas that round-trip, arbitrary text
// that only ever fails with a ProvenantError, and a differential test against the first, simple
// version of the parser (kept below as the reference for its behaviour). scanControlStanzas is
// checked against the full parse: the same stanzas, fields and errors, and spans that reparse.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError, ProvenantError } from '../../../src/errors.ts';
import { debSourceField, parseControlStanzas, scanControlStanzas } from '../../../src/pkg/deb/control.ts';

/** The first version of parseControlStanzas, line by line with a regular expression. */
function reference(text: string, where: string): Record<string, string>[] {
  const stanzas: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let lastKey: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.trim() === '') {
      if (Object.keys(current).length > 0) stanzas.push(current);
      current = {};
      lastKey = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (lastKey === undefined) {
        throw new ProvenantError('INVALID_PACKAGE', `line ${i + 1} continues a field, but no field precedes it`, {
          where: `${where}:${i + 1}`,
        });
      }
      if (lastKey !== '__proto__') current[lastKey] = `${current[lastKey] ?? ''}\n${line.slice(1)}`;
      continue;
    }
    const m = /^([!-9;-~][!-9;-~]*):(.*)$/.exec(line);
    if (m === null) {
      throw new ProvenantError('INVALID_PACKAGE', `line ${i + 1} is not a "Field: value" line: ${JSON.stringify(line.slice(0, 80))}`, {
        where: `${where}:${i + 1}`,
      });
    }
    lastKey = (m[1] as string).toLowerCase();
    if (lastKey !== '__proto__') current[lastKey] = (m[2] as string).trim();
  }
  if (Object.keys(current).length > 0) stanzas.push(current);
  return stanzas;
}

/** The stanzas, or the error's code, message and place. */
function outcome(parse: (text: string, where: string) => Record<string, string>[], text: string): unknown {
  try {
    return { stanzas: parse(text, 'f') };
  } catch (err) {
    assert.ok(err instanceof ProvenantError, String(err));
    return { code: err.code, message: err.message, where: err.where };
  }
}

// Field names, with the characters a generated one may use; values without line breaks.
const fieldName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((k) => k.toLowerCase() !== '__proto__');
const valueChar = fc.constantFrom('a', 'Z', '0', ' ', '\t', ':', '#', '.', '(', ')', 'é', '\u00a0', '€');
const firstLine = fc.string({ unit: valueChar, maxLength: 20 });
// A continuation line's text after its leading space: not blank (a blank line ends the stanza;
// deb822 writes an empty line of a description as " .").
const moreLine = fc.string({ unit: valueChar, maxLength: 20 }).filter((l) => l.trim() !== '');
const fieldValue = fc.tuple(firstLine, fc.array(moreLine, { maxLength: 3 }));
const stanza = fc.uniqueArray(fc.tuple(fieldName, fieldValue), { minLength: 1, maxLength: 8, selector: ([k]) => k.toLowerCase() });

describe('parseControlStanzas', () => {
  it('reads fields, continuation lines, comments and CRLF line ends', () => {
    const text = 'Package: a\r\nDescription: one\r\n two\r\n .\r\n# a comment\r\n\tthree\r\nMulti-Arch:same  \r\n\r\n \t \r\nPACKAGE: b\n';
    assert.deepEqual(parseControlStanzas(text, 'f'), [
      { package: 'a', description: 'one\ntwo\n.\nthree', 'multi-arch': 'same' },
      { package: 'b' },
    ]);
  });

  it('keeps the last of a repeated field and ignores a __proto__ field', () => {
    const stanzas = parseControlStanzas('A: 1\n more\na: 2\n__proto__: x\n y\n\n__proto__: z\n', 'f');
    assert.deepEqual(stanzas, [{ a: '2' }]);
    assert.equal(Object.getPrototypeOf(stanzas[0]), Object.prototype);
  });

  it('names the line of a malformed one', () => {
    assert.throws(
      () => parseControlStanzas('A: 1\n\n continued\n', 'Packages'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'Packages:3',
    );
    assert.throws(
      () => parseControlStanzas('A: 1\nB\n', 'Packages'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'Packages:2' && err.message.includes('"B"'),
    );
    assert.throws(
      () => parseControlStanzas('A: 1\rB\n', 'Packages'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
    assert.throws(
      () => parseControlStanzas('Ä: 1\n', 'Packages'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
  });

  it('round-trips generated stanzas', () => {
    fc.assert(
      fc.property(
        fc.array(stanza, { maxLength: 5 }),
        fc.constantFrom('\n', '\r\n'),
        fc.constantFrom('\n', '\n\n', '\n \t\n'),
        (stanzas, eol, gap) => {
          const text = stanzas
            .map((fields) => fields.map(([k, [first, more]]) => [`${k}: ${first}`, ...more.map((l) => ` ${l}`)].join(eol)).join(eol))
            .join(eol + gap);
          const want = stanzas.map((fields) =>
            Object.fromEntries(fields.map(([k, [first, more]]) => [k.toLowerCase(), [first.trim(), ...more].join('\n')])),
          );
          assert.deepEqual(parseControlStanzas(text, 'f'), want);
        },
      ),
      { numRuns: 500 },
    );
  });

  // Its doc says at most `limit` stanzas: a limit of 0 gave one.
  it('reads at most `limit` stanzas, none for 0, scanned or parsed (property)', () => {
    assert.deepEqual(parseControlStanzas('A: 1\n\nB: 2\n', 'f', 1, 0), []);
    assert.deepEqual(scanControlStanzas('A: 1\n\nB: 2\n', 'f', new Set(['a']), 1, 0), []);
    fc.assert(
      fc.property(fc.array(stanza, { maxLength: 5 }), fc.nat({ max: 6 }), (stanzas, limit) => {
        const text = stanzas
          .map((fields) => fields.map(([k, [first, more]]) => [`${k}: ${first}`, ...more.map((l) => ` ${l}`)].join('\n')).join('\n'))
          .join('\n\n');
        const all = parseControlStanzas(text, 'f');
        assert.deepEqual(parseControlStanzas(text, 'f', 1, limit), all.slice(0, limit));
        assert.equal(scanControlStanzas(text, 'f', new Set(), 1, limit).length, Math.min(limit, all.length));
      }),
      { numRuns: 300 },
    );
  });

  it('only ever throws a ProvenantError, and behaves as the first version did', () => {
    const unit = fc.constantFrom('a', 'B', ':', ' ', '\t', '\n', '\n', '\r', '#', '\u00a0', '\u2028', '\ufeff', 'é', '_', '~', '\v');
    const text = fc.oneof(
      fc.string({ unit, maxLength: 60 }),
      fc.string({ maxLength: 60 }),
      fc.array(fc.tuple(fieldName, firstLine), { maxLength: 4 }).map((fs) => fs.map(([k, v]) => `${k}:${v}`).join('\n')),
    );
    fc.assert(
      fc.property(text, (t) => {
        assert.deepEqual(outcome(parseControlStanzas, t), outcome(reference, t));
      }),
      { numRuns: 5000 },
    );
  });
});

// Generated deb822 texts for scanControlStanzas, as lines: field names from a small set in random
// letter case (so that stanzas share fields and some name one twice), comments anywhere (between
// a field and its continuation lines too), separators that are empty or only whitespace (U+00A0
// and U+3000 among it, which the parser counts as whitespace), and now and then a malformed line.
const scanFieldNames = ['Package', 'Version', 'Provides', 'Multi-Arch', 'Description', 'X-Note', '__proto__'];
const scanFieldName = fc
  .tuple(fc.constantFrom(...scanFieldNames), fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }))
  .map(([name, upper]) => [...name].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''));
const scanField = fc
  .tuple(scanFieldName, firstLine, fc.array(fc.tuple(fc.constantFrom(' ', '\t'), moreLine), { maxLength: 3 }))
  .map(([k, first, more]) => [`${k}:${first}`, ...more.map(([lead, l]) => lead + l)]);
const scanComment = firstLine.map((c) => [`#${c}`]);
const scanStanza = fc
  .array(fc.oneof({ weight: 4, arbitrary: scanField }, { weight: 1, arbitrary: scanComment }), { minLength: 1, maxLength: 6 })
  .map((chunks) => chunks.flat());
const separator = fc.array(fc.constantFrom('', '', ' ', '\t', ' \t ', '\u00a0', '\u3000'), { minLength: 1, maxLength: 2 });
const malformed = fc.constantFrom('no colon', ':x', 'Fi eld: x', 'Ä: 1', ' continued', 'A: 1\rB: 2', 'A: 1\u2028B');
const scanText = fc
  .record({
    lead: fc.option(separator, { nil: undefined }),
    stanzas: fc.array(fc.tuple(scanStanza, separator), { maxLength: 5 }),
    eol: fc.constantFrom('\n', '\r\n', 'mixed'),
    finalEol: fc.boolean(),
    bad: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.tuple(fc.nat(), malformed) }),
  })
  .map(({ lead, stanzas, eol, finalEol, bad }) => {
    const lines = [...(lead ?? []), ...stanzas.flatMap(([lines, sep], i) => (i === stanzas.length - 1 ? lines : [...lines, ...sep]))];
    if (bad !== undefined) lines.splice(bad[0] % (lines.length + 1), 0, bad[1]);
    const end = (i: number): string => (eol === 'mixed' ? (i % 2 === 0 ? '\r\n' : '\n') : eol);
    return lines.map((l, i) => (i < lines.length - 1 || finalEol ? l + end(i) : l)).join('');
  });
const askedFields = fc.subarray(['package', 'version', 'provides', 'multi-arch', 'description', 'x-note', '__proto__', 'absent']);

/** The error a parse throws, as its code, message and place; undefined when it throws none. */
function failure(parse: () => unknown): unknown {
  try {
    parse();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ProvenantError, String(err));
    return { code: err.code, message: err.message, where: err.where };
  }
}

describe('scanControlStanzas', () => {
  it('gives the asked fields and the span of each stanza, from its first field line to its last line', () => {
    const text = '# head\nPackage: a\nDescription: x\n y\n\n \t\nPACKAGE: b\nVersion: 1\n';
    const scanned = scanControlStanzas(text, 'f', new Set(['package', 'absent']));
    assert.deepEqual(
      scanned.map((s) => s.fields),
      [{ package: 'a' }, { package: 'b' }],
    );
    // The comment before the first field is not part of the stanza; the line ends after it are not either.
    assert.deepEqual(
      scanned.map((s) => text.slice(s.start, s.end)),
      ['Package: a\nDescription: x\n y', 'PACKAGE: b\nVersion: 1'],
    );
  });

  it('reads the stanzas the full parse reads, and throws what it throws (property)', () => {
    let failed = 0;
    let stanzas = 0;
    fc.assert(
      fc.property(scanText, askedFields, (text, asked) => {
        const fields = new Set(asked);
        const error = failure(() => parseControlStanzas(text, 'f'));
        // Every line is checked, whether its field is asked for or not.
        assert.deepEqual(
          failure(() => scanControlStanzas(text, 'f', fields)),
          error,
        );
        if (error !== undefined) {
          failed++;
          return;
        }
        const full = parseControlStanzas(text, 'f');
        const scanned = scanControlStanzas(text, 'f', fields);
        stanzas += full.length;
        assert.deepEqual(
          scanned.map((s) => s.fields),
          full.map((s) => Object.fromEntries(Object.entries(s).filter(([k]) => fields.has(k)))),
        );
        let previousEnd = 0;
        for (const [i, s] of scanned.entries()) {
          // In order, apart, each reparsing to exactly its own stanza.
          assert.ok(previousEnd <= s.start && s.start <= s.end && s.end <= text.length, `${s.start}..${s.end}`);
          previousEnd = s.end;
          assert.deepEqual(parseControlStanzas(text.slice(s.start, s.end), 'f'), [full[i]]);
        }
      }),
      { numRuns: 2000 },
    );
    // Both outcomes are exercised, not only one.
    assert.ok(failed > 50 && stanzas > 1000, `${failed} failures, ${stanzas} stanzas`);
  });
});

describe('debSourceField', () => {
  it('reads a Source field as a name and, when given, a version; never throws', () => {
    assert.deepEqual(debSourceField('util-linux (2.38.1-5+deb12u3)'), { name: 'util-linux', version: '2.38.1-5+deb12u3' });
    assert.deepEqual(debSourceField('glibc'), { name: 'glibc' });
    assert.deepEqual(debSourceField('lvm2 ( 2.03.16-2 )'), { name: 'lvm2', version: '2.03.16-2' });
    assert.deepEqual(debSourceField(''), { name: '' });
    fc.assert(fc.property(fc.string(), (text) => void debSourceField(text)));
  });
});
