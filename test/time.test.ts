// SOURCE_DATE_EPOCH, read in one place, and the one timestamp form the build's documents carry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../src/errors.ts';
import { epochSeconds, formatTimestamp, parseSourceDateEpoch } from '../src/time.ts';

describe('SOURCE_DATE_EPOCH and timestamps', () => {
  it('reads whole seconds, and nothing for an unset or empty variable', () => {
    assert.equal(parseSourceDateEpoch(undefined), undefined);
    assert.equal(parseSourceDateEpoch(''), undefined);
    assert.equal(parseSourceDateEpoch('0'), 0);
    assert.equal(parseSourceDateEpoch('1700000000'), 1700000000);
    for (const bad of ['-1', '1.5', ' 1', '1e9', '0x10', '1234567890123', '253402300800', 'now']) {
      assert.throws(
        () => parseSourceDateEpoch(bad),
        (e) => isProvenantError(e, 'USAGE') && e.message.includes(JSON.stringify(bad)),
        bad,
      );
    }
  });

  it('formats seconds and dates as YYYY-MM-DDThh:mm:ssZ', () => {
    assert.equal(formatTimestamp(0), '1970-01-01T00:00:00Z');
    assert.equal(formatTimestamp(1700000000), '2023-11-14T22:13:20Z');
    assert.equal(formatTimestamp(new Date('2024-02-29T12:34:56.789Z')), '2024-02-29T12:34:56Z');
  });

  it('gives back the seconds it read, for any value the variable may hold (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799 }), (n) => {
        const seconds = epochSeconds(String(n));
        assert.equal(seconds, n);
        const text = formatTimestamp(seconds);
        assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.equal(Date.parse(text) / 1000, n);
      }),
    );
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/^\d{1,12}$/.test(s) || Number(s) > 253_402_300_799),
        (s) => {
          assert.throws(
            () => epochSeconds(s),
            (e) => isProvenantError(e, 'USAGE'),
          );
        },
      ),
    );
  });
});
