// Debian relationship fields: dpkg's syntax case by case, its refusals, and a round trip through
// the formatter for generated fields.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import { type DebRelation, formatDebRelations, parseDebRelations } from '../../../src/pkg/deb/relations.ts';
import type { DebConstraintOp } from '../../../src/pkg/deb/version.ts';
import { APK_OP_OF_DEB, debOpOfApk } from '../../../src/pkg/relation-ops.ts';

const name = fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{0,12}$/);
const arch = fc.constantFrom('any', 'native', 'amd64', 'arm64', 'i386', 'linux-any');
const version = fc.constantFrom('1', '1.0', '2:1.2.3-4', '1.0~rc1+dfsg-1~bpo12+1', '0.5', '1:2:3');
const op = fc.constantFrom<DebConstraintOp>('<<', '<=', '=', '>=', '>>', '<', '>');
const negatable = (p: fc.Arbitrary<string>) => fc.tuple(fc.boolean(), p).map(([not, t]) => (not ? `!${t}` : t));
const relation: fc.Arbitrary<DebRelation> = fc
  .record(
    {
      name,
      archQualifier: arch,
      constraint: fc.tuple(op, version),
      architectures: fc.array(negatable(arch), { minLength: 1, maxLength: 3 }),
      profiles: fc.array(fc.array(negatable(fc.constantFrom('nocheck', 'nodoc', 'stage1', 'cross')), { minLength: 1, maxLength: 2 }), {
        minLength: 1,
        maxLength: 2,
      }),
    },
    { requiredKeys: ['name'] },
  )
  .map(({ constraint, ...rest }) => (constraint === undefined ? rest : { ...rest, op: constraint[0], version: constraint[1] }));
const field = fc.array(fc.array(relation, { minLength: 1, maxLength: 3 }), { maxLength: 5 });

const isInvalid = (err: unknown): boolean => isProvenantError(err, 'INVALID_PACKAGE');

describe('parseDebRelations', () => {
  it('reads entries, alternatives, qualifiers and versions', () => {
    assert.deepEqual(parseDebRelations('libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0, python3:any', 'Depends'), [
      [{ name: 'libc6', op: '>=', version: '2.36' }],
      [{ name: 'debconf', op: '>=', version: '0.5' }, { name: 'debconf-2.0' }],
      [{ name: 'python3', archQualifier: 'any' }],
    ]);
    assert.deepEqual(parseDebRelations('', 'Depends'), []);
    assert.deepEqual(parseDebRelations('  \n ', 'Depends'), []);
  });

  it('takes the spacing dpkg takes, continuation lines included', () => {
    assert.deepEqual(parseDebRelations('a(<<1:2.0-1)|b ( = 3 ) ,\n c', 'Depends'), [
      [
        { name: 'a', op: '<<', version: '1:2.0-1' },
        { name: 'b', op: '=', version: '3' },
      ],
      [{ name: 'c' }],
    ]);
  });

  it('keeps the obsolete < and > and reads a bare version as =', () => {
    assert.deepEqual(parseDebRelations('a (< 1), b (> 2), c (1.0)', 'Depends'), [
      [{ name: 'a', op: '<', version: '1' }],
      [{ name: 'b', op: '>', version: '2' }],
      [{ name: 'c', op: '=', version: '1.0' }],
    ]);
  });

  it('parses the architecture lists and build profiles of build relations', () => {
    assert.deepEqual(
      parseDebRelations('libselinux1-dev (>= 1.28-4) [linux-any !hurd-i386] <!nocheck> <stage1 cross>, po4a <!nodoc>', 'Build-Depends'),
      [
        [
          {
            name: 'libselinux1-dev',
            op: '>=',
            version: '1.28-4',
            architectures: ['linux-any', '!hurd-i386'],
            profiles: [['!nocheck'], ['stage1', 'cross']],
          },
        ],
        [{ name: 'po4a', profiles: [['!nodoc']] }],
      ],
    );
  });

  it('skips empty entries', () => {
    assert.deepEqual(parseDebRelations('a, , b,', 'Depends'), [[{ name: 'a' }], [{ name: 'b' }]]);
  });

  it('refuses what dpkg refuses, naming the field and the place', () => {
    const cases: [string, string][] = [
      ['a |', 'Depends'],
      ['| a', 'Depends'],
      ['a b', 'Depends'],
      ['-a', 'Depends'],
      ['a$', 'Depends'],
      ['a:', 'Depends'],
      ['a:$', 'Depends'],
      ['a (>= 1', 'Depends'],
      ['a (>= 1 2)', 'Depends'],
      ['a (<> 1)', 'Depends'],
      ['a (>= )', 'Depends'],
      ['a (>= 1:)', 'Depends'],
      ['a [amd64', 'Build-Depends'],
      ['a []', 'Build-Depends'],
      ['a <!No$>', 'Build-Depends'],
      ['a | b', 'Conflicts'],
      ['a | b', 'Breaks'],
      ['a | b', 'Replaces'],
      ['a | b', 'Provides'],
      ['a (>= 1)', 'Provides'],
    ];
    for (const [text, field] of cases) {
      assert.throws(
        () => parseDebRelations(text, field, 'Packages: foo 1.0'),
        (err) =>
          isInvalid(err) &&
          (err as Error).message.includes(field) &&
          (err as Error).message.includes(JSON.stringify(text)) &&
          (err as { where?: string }).where === 'Packages: foo 1.0',
        `${field}: ${text}`,
      );
    }
  });

  it('round-trips generated fields through formatDebRelations', () => {
    fc.assert(
      fc.property(field, (entries) => {
        const text = formatDebRelations(entries);
        assert.deepEqual(parseDebRelations(text, 'Build-Depends'), entries);
      }),
      { numRuns: 500 },
    );
  });

  it('only ever throws INVALID_PACKAGE', () => {
    const junk = fc.string({
      unit: fc.constantFrom('a', 'b', '1', ':', '(', ')', '<', '>', '=', '|', ',', ' ', '\n', '[', ']', '!', '-', '.', '~'),
      maxLength: 30,
    });
    fc.assert(
      fc.property(junk, fc.constantFrom('Depends', 'Provides', 'Conflicts'), (text, name) => {
        try {
          parseDebRelations(text, name);
        } catch (err) {
          assert.ok(isInvalid(err), String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("apk's relation operators", () => {
  it("map Debian's to apk's and back, Debian's strict << and >> for apk's < and >, its obsolete < and > to <= and >=", () => {
    assert.deepEqual(
      (['<<', '<=', '=', '>=', '>>', '<', '>'] as const).map((op) => APK_OP_OF_DEB[op]),
      ['<', '<=', '=', '>=', '>', '<=', '>='],
    );
    assert.deepEqual(
      ['<', '<=', '=', '>=', '>', '~', '><'].map((op) => debOpOfApk(op)),
      ['<<', '<=', '=', '>=', '>>', undefined, undefined],
    );
  });
});
