// The compact set of SHA-256 digests the layer's precompressor keeps per body (issue 16).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DigestSet } from '../../src/vfs/digest-set.ts';

const digest = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('DigestSet', () => {
  it('holds what was added, and nothing else, through its growth', () => {
    const set = new DigestSet();
    for (let i = 0; i < 5000; i++) assert.equal(set.add(digest(`a${i}`)), true);
    assert.equal(set.add(digest('a17')), false);
    assert.equal(set.size, 5000);
    for (let i = 0; i < 5000; i++) assert.equal(set.has(digest(`a${i}`)), true, `a${i}`);
    for (let i = 0; i < 5000; i++) assert.equal(set.has(digest(`b${i}`)), false, `b${i}`);
  });

  it('tells digests apart that share all but one word, and that land in one slot', () => {
    const set = new DigestSet();
    const base = '0'.repeat(64);
    // The same first word (where a digest's slot is found), the other words each differing.
    const alike = Array.from({ length: 7 }, (_, w) => `${base.slice(0, 8 + 8 * w)}f${base.slice(9 + 8 * w)}`);
    for (const d of alike) set.add(d);
    assert.equal(set.has(base), false);
    for (const d of alike) assert.equal(set.has(d), true);
    assert.equal(set.add(base), true);
    assert.equal(set.size, 8);
  });

  it('refuses to add what is not 64 lowercase hex digits, and never has it', () => {
    const set = new DigestSet();
    const upper = digest('x').toUpperCase();
    for (const bad of [upper, digest('x').slice(1), `${digest('x')}0`, '', `g${digest('x').slice(1)}`]) {
      assert.equal(DigestSet.holds(bad), false);
      assert.throws(() => set.add(bad), RangeError);
      assert.equal(set.has(bad), false);
    }
    set.add(digest('x'));
    assert.equal(set.has(upper), false);
  });

  it('answers as a Set of the strings does (property)', () => {
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    // A small alphabet of digests, so that some are added twice and asked for after.
    const few = fc.array(fc.constantFrom(...Array.from({ length: 40 }, (_, i) => digest(String(i)))), { maxLength: 60 });
    fc.assert(
      fc.property(fc.array(hex, { maxLength: 300 }), few, few, (added, more, asked) => {
        const set = new DigestSet();
        const model = new Set<string>();
        for (const d of [...added, ...more]) assert.equal(set.add(d), !model.has(d) && model.add(d) !== undefined);
        assert.equal(set.size, model.size);
        for (const d of [...added, ...asked]) assert.equal(set.has(d), model.has(d));
      }),
    );
  });
});
