/**
 * Several provenances attached to one image (a rebuild into the same layout attaches its own to
 * the same digest): each different one is kept, the one shown first, and the page says so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SLSA_V1, SLSA_V02 } from '../../src/attest/provenance.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { type FoundStatement, provenancesFrom } from '../../src/report/statements.ts';

const at = (c: string) => `sha256:${c.repeat(64)}` as Digest;

function v1(attachment: string, signed: boolean, finishedOn?: string, lock = 'a'): FoundStatement {
  return {
    predicateType: SLSA_V1,
    attachment: at(attachment),
    signed,
    predicate: {
      buildDefinition: { buildType: 'https://example.org/build/v1', externalParameters: { lock } },
      runDetails: { builder: { id: 'https://example.org/builder' }, ...(finishedOn === undefined ? {} : { metadata: { finishedOn } }) },
    },
  };
}

describe('provenancesFrom', () => {
  it('keeps every different provenance, the newest by build time first', () => {
    const got = provenancesFrom([
      v1('1', false, '2026-01-01T00:00:00Z'),
      v1('2', false, '2026-03-01T00:00:00Z'),
      v1('3', false, '2026-02-01T00:00:00Z'),
    ]);
    assert.deepEqual(
      got.map((p) => [p.attachment, p.buildTime]),
      [
        [at('2'), '2026-03-01T00:00:00Z'],
        [at('3'), '2026-02-01T00:00:00Z'],
        [at('1'), '2026-01-01T00:00:00Z'],
      ],
    );
  });

  it('without a build time, shows the one listed last (a layout lists them as attached), and keeps the other', () => {
    const got = provenancesFrom([v1('1', false, undefined, 'old'), v1('2', false, undefined, 'new')]);
    assert.deepEqual(
      got.map((p) => [p.attachment, p.buildTime, (p.parameters as { lock: string }).lock]),
      [
        [at('2'), undefined, 'new'],
        [at('1'), undefined, 'old'],
      ],
    );
  });

  it('shows a signed one before a newer unsigned one, v1 before v0.2, and counts one statement attached twice once', () => {
    const signed = v1('1', true, '2026-01-01T00:00:00Z');
    const copy = { ...v1('2', false, '2026-01-01T00:00:00Z'), predicate: signed.predicate };
    const newer = v1('3', false, '2026-05-01T00:00:00Z');
    const old: FoundStatement = {
      predicateType: SLSA_V02,
      attachment: at('4'),
      signed: true,
      predicate: { builder: { id: 'b' }, metadata: { buildFinishedOn: '2026-09-01T00:00:00Z' } },
    };
    const got = provenancesFrom([copy, newer, signed, old]);
    assert.deepEqual(
      got.map((p) => [p.attachment, p.signed, p.predicateType]),
      [
        [at('1'), true, SLSA_V1],
        [at('4'), true, SLSA_V02],
        [at('3'), false, SLSA_V1],
      ],
    );
    assert.equal(got[1]?.buildTime, '2026-09-01T00:00:00Z');
    assert.deepEqual(
      provenancesFrom([copy, signed]).map((p) => p.attachment),
      [at('1')],
    );
  });
});
