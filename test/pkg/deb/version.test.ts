// Debian version comparison: known cases (each also checked against the system's dpkg when
// there is one), the properties of an order, and a differential test against
// `dpkg --compare-versions` over generated pairs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import {
  compareDebVersions,
  type DebConstraintOp,
  formatDebVersion,
  isValidDebVersion,
  parseDebVersion,
  satisfiesDebConstraint,
} from '../../../src/pkg/deb/version.ts';

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const digits = fc.constantFrom('0', '1', '2', '9', '10', '00', '01', '123', '4294967296');
const nonDigits = fc.constantFrom('.', '+', '~', '~~', 'a', 'b', 'z', 'A', 'Z', 'rc', 'dfsg', '+b', '.~', '~a');
/** An upstream version: a digit first, then runs of digits and of other allowed characters. */
const upstream = fc
  .tuple(digits, fc.array(fc.tuple(nonDigits, fc.option(digits, { nil: '' })), { maxLength: 4 }))
  .map(([first, rest]) => first + rest.map(([a, b]) => a + b).join(''));
const revision = fc
  .tuple(fc.option(digits, { nil: '' }), fc.array(fc.tuple(nonDigits, fc.option(digits, { nil: '' })), { maxLength: 2 }))
  .map(([first, rest]) => first + rest.map(([a, b]) => a + b).join(''))
  .filter((r) => r !== '');
/** A version dpkg accepts without a warning. */
const debVersion = fc
  .tuple(fc.option(fc.constantFrom('0', '1', '2', '10'), { nil: undefined }), upstream, fc.option(revision, { nil: undefined }))
  .map(([epoch, up, rev]) => `${epoch === undefined ? '' : `${epoch}:`}${up}${rev === undefined ? '' : `-${rev}`}`);

const hasDpkg = (() => {
  try {
    execFileSync('dpkg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** dpkg's answers for many pairs at once, from one shell: -1, 0 or 1 for each. */
function dpkgCompare(pairs: readonly (readonly [string, string])[]): number[] {
  const script =
    'while [ $# -gt 0 ]; do if dpkg --compare-versions "$1" lt "$2" 2>/dev/null; then echo -1; elif dpkg --compare-versions "$1" eq "$2" 2>/dev/null; then echo 0; else echo 1; fi; shift 2; done';
  const out = execFileSync('sh', ['-c', script, 'sh', ...pairs.flat()], { encoding: 'utf8' });
  return out.trim().split('\n').map(Number);
}

// Ascending, as dpkg orders them (checked with dpkg 1.21.22).
const ASCENDING = [
  '~~',
  '~~a',
  '~',
  '0~',
  '0',
  '0-0.1',
  '0.0',
  '0.1~rc1',
  '0.1',
  '0.1-1~bpo1',
  '0.1-1',
  '0.1-1+b1',
  '0.1-1.1',
  '0.1A+',
  '0.1a',
  '0.1z',
  '0.1+',
  '0.1+dfsg',
  '0.1.0',
  '0.2',
  '0.9',
  '0.10',
  '1.0',
  '1.0-1',
  '1.0-2',
  '1.0-10',
  '1.2.3',
  '9.99',
  '10',
  '1:0',
  '1:0.0~',
  '1:0.0',
  '2:0',
];
const EQUAL = [
  ['1.0', '1.00'],
  ['1.0', '1.0-0'],
  ['1.01', '1.1'],
  ['0:1.0', '1.0'],
  ['1.0', ' 1.0 '],
  ['007', '7'],
  ['1:2:3-4', '01:2:3-04'],
] as const;

describe('compareDebVersions', () => {
  it('orders epochs, upstream versions and revisions as dpkg does', () => {
    for (let i = 0; i + 1 < ASCENDING.length; i++) {
      const [a, b] = [ASCENDING[i]!, ASCENDING[i + 1]!];
      assert.equal(compareDebVersions(a, b), -1, `${a} < ${b}`);
      assert.equal(compareDebVersions(b, a), 1, `${b} > ${a}`);
    }
    for (const [a, b] of EQUAL) assert.equal(compareDebVersions(a, b), 0, `${a} = ${b}`);
  });

  it('agrees with dpkg on the known cases', { skip: !hasDpkg && 'no dpkg on this machine' }, () => {
    const pairs: [string, string][] = [];
    for (let i = 0; i + 1 < ASCENDING.length; i++) pairs.push([ASCENDING[i]!, ASCENDING[i + 1]!]);
    for (const [a, b] of EQUAL) pairs.push([a, b]);
    assert.deepEqual(
      dpkgCompare(pairs),
      pairs.map(([a, b]) => compareDebVersions(a, b)),
    );
  });

  it('agrees with dpkg --compare-versions on generated pairs', { skip: !hasDpkg && 'no dpkg on this machine' }, () => {
    const pairs = fc.sample(fc.tuple(debVersion, debVersion), { numRuns: 200, seed: 20260815 });
    // Pairs that are close compare in the later parts too: derive half of them from the first.
    const near = fc.sample(
      debVersion.chain((v) => fc.tuple(fc.constant(v), fc.constantFrom(`${v}~`, `${v}0`, `${v}a`, `${v}.0`, `${v}+1`, `${v}-1`))),
      { numRuns: 60, seed: 7 },
    );
    const all = [...pairs, ...near];
    const want = dpkgCompare(all);
    assert.deepEqual(
      all.map(([a, b]) => `${a} vs ${b}: ${compareDebVersions(a, b)}`),
      all.map(([a, b], i) => `${a} vs ${b}: ${want[i]}`),
    );
  });

  it('is a total preorder on every string (reflexive, antisymmetric, transitive)', () => {
    const anyVersion = fc.oneof(debVersion, fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(anyVersion, anyVersion, anyVersion, (a, b, c) => {
        assert.equal(compareDebVersions(a, a), 0);
        assert.equal(compareDebVersions(a, b), -compareDebVersions(b, a) || 0);
        const sorted = [a, b, c].sort(compareDebVersions);
        assert.ok(compareDebVersions(sorted[0]!, sorted[1]!) <= 0);
        assert.ok(compareDebVersions(sorted[1]!, sorted[2]!) <= 0);
        assert.ok(compareDebVersions(sorted[0]!, sorted[2]!) <= 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('lets the epoch dominate', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.nat(1000), upstream, upstream, (e1, e2, a, b) => {
        fc.pre(e1 !== e2);
        assert.equal(compareDebVersions(`${e1}:${a}`, `${e2}:${b}`), e1 < e2 ? -1 : 1);
      }),
    );
  });

  it('sorts ~ below the end of a version, and anything else above it', () => {
    fc.assert(
      fc.property(debVersion, fc.constantFrom('a', 'Z', '+', '.'), (v, c) => {
        const { upstream: up } = parseDebVersion(v);
        const withTilde = formatDebVersion({ ...parseDebVersion(v), upstream: `${up}~` });
        assert.equal(compareDebVersions(withTilde, v), -1);
        const longer = formatDebVersion({ ...parseDebVersion(v), upstream: `${up}${c}` });
        assert.equal(compareDebVersions(longer, v), 1);
      }),
    );
  });

  it('compares runs of digits as numbers of any length', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.nat(3), (x, y, zeros) => {
        const want = x < y ? -1 : x > y ? 1 : 0;
        assert.equal(compareDebVersions(`1.${'0'.repeat(zeros)}${x}`, `1.${y}`), want);
      }),
    );
  });
});

describe('parseDebVersion and isValidDebVersion', () => {
  it('splits at the first colon and the last hyphen', () => {
    assert.deepEqual(parseDebVersion('1:2.36.1-8+deb12u1'), { epoch: 1, upstream: '2.36.1', revision: '8+deb12u1' });
    assert.deepEqual(parseDebVersion('2:1.2-3-4'), { epoch: 2, upstream: '1.2-3', revision: '4' });
    assert.deepEqual(parseDebVersion('1:2:3'), { epoch: 1, upstream: '2:3', revision: '' });
    assert.deepEqual(parseDebVersion(' 7.0 '), { epoch: 0, upstream: '7.0', revision: '' });
  });

  it('refuses what dpkg refuses, and accepts with a warning what dpkg warns about', () => {
    for (const bad of ['', ' ', '1 2', ':1', 'a:1', '1.0:2', '-1:2', '2147483648:1', '1:', '1.0-', '-1', '1:-1']) {
      assert.throws(
        () => parseDebVersion(bad, 'Packages'),
        (err) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'Packages',
        JSON.stringify(bad),
      );
      assert.equal(isValidDebVersion(bad), false, JSON.stringify(bad));
    }
    for (const warned of ['a1', '1_2', '1.0-a_b', '1:a']) {
      assert.doesNotThrow(() => parseDebVersion(warned));
      assert.equal(isValidDebVersion(warned), false, warned);
    }
    for (const good of ['0', '2147483647:1', '1.0~rc1+dfsg-1~bpo12+1', '1:2:3-4', '9A']) {
      assert.equal(isValidDebVersion(good), true, good);
    }
  });

  it('round-trips through formatDebVersion', () => {
    fc.assert(
      fc.property(debVersion, (v) => {
        const parsed = parseDebVersion(v);
        assert.deepEqual(parseDebVersion(formatDebVersion(parsed)), parsed);
        assert.equal(compareDebVersions(formatDebVersion(parsed), v), 0);
        assert.ok(isValidDebVersion(v), v);
      }),
    );
  });
});

describe('satisfiesDebConstraint', () => {
  const OPS: Record<DebConstraintOp, (r: number) => boolean> = {
    '<<': (r) => r < 0,
    '<=': (r) => r <= 0,
    '<': (r) => r <= 0, // obsolete: means <=
    '=': (r) => r === 0,
    '>=': (r) => r >= 0,
    '>': (r) => r >= 0, // obsolete: means >=
    '>>': (r) => r > 0,
  };

  it('matches each relation against the comparison', () => {
    fc.assert(
      fc.property(debVersion, debVersion, fc.constantFrom(...(Object.keys(OPS) as DebConstraintOp[])), (v, w, op) => {
        assert.equal(satisfiesDebConstraint(v, op, w), OPS[op](compareDebVersions(v, w)));
      }),
    );
    assert.equal(satisfiesDebConstraint('2.36-9+deb12u4', '>=', '2.36'), true);
    assert.equal(satisfiesDebConstraint('1.0~rc1', '<<', '1.0'), true);
    assert.equal(satisfiesDebConstraint('1.0', '<', '1.0'), true);
    assert.equal(satisfiesDebConstraint('1.0', '>', '1.0'), true);
  });

  it('refuses an operator that is not a Debian relation', () => {
    assert.throws(
      () => satisfiesDebConstraint('1', '~' as DebConstraintOp, '1'),
      (err) => isProvenantError(err, 'USAGE'),
    );
  });
});
