// Debian control stanzas: the format's corners, generated stanzas that round-trip, arbitrary text
// that only ever fails with a ProvenantError, and a differential test against the first, simple
// version of the parser (kept below as the reference for its behaviour).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError, ProvenantError } from '../../../src/errors.ts';
import { parseControlStanzas } from '../../../src/pkg/deb/control.ts';

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
