// apk version comparison and dependency atoms: a case for each
// rule of version.c, and properties (a total preorder on every string, normal forms, the grammar,
// constraints against the comparison, parse/format round trips).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import {
  type ApkConstraintOp,
  type ApkDependency,
  type ApkVersionOp,
  compareApkVersions,
  formatApkDependency,
  isValidApkVersion,
  parseApkDependency,
  satisfiesApkConstraint,
} from '../../../src/pkg/apk/version.ts';

// ---------------------------------------------------------------------------------------------
// The rules of version.c, one by one (each checked once against apk-tools' version.c, compiled
// from commit 90b974fd, over 200,000 random pairs with no disagreement; the harness is not kept)
// ---------------------------------------------------------------------------------------------

function assertAscending(versions: readonly string[]): void {
  for (let i = 0; i + 1 < versions.length; i++) {
    const [a, b] = [versions[i]!, versions[i + 1]!];
    assert.equal(compareApkVersions(a, b), -1, `${a} < ${b}`);
    assert.equal(compareApkVersions(b, a), 1, `${b} > ${a}`);
  }
}

describe('compareApkVersions', () => {
  it('orders suffixes, revisions, commit hashes, letters and numbers as version.c does', () => {
    assertAscending([
      '1.0_alpha',
      '1.0_alpha1',
      '1.0_beta',
      '1.0_pre',
      '1.0_rc',
      '1.0_rc1',
      '1.0_foo', // invalid from "_foo" on: below the end of a version, above a pre-release suffix
      '1.0',
      '1.0-r0', // any revision is newer than none
      '1.0-r1',
      '1.0~0', // a commit hash sorts above a revision
      '1.0~abc',
      '1.0~abc-r0',
      '1.0_cvs',
      '1.0_svn',
      '1.0_git',
      '1.0_hg',
      '1.0_p',
      '1.0_p1',
      '1.0a',
      '1.0b',
      '1.0.0',
      '1.0.00', // a leading zero after a dot: compared as strings
      '1.0.01',
      '1.0.1',
      '1.0.2',
      '1.0.10',
      '1.1',
      '2',
      '10',
    ]);
  });

  const equal: Array<[string, string, string]> = [
    ['01', '1', 'the first number is always numeric'],
    ['1.0-r01', '1.0-r1', 'revisions are numeric'],
    ['1_rc01', '1_rc1', 'suffix numbers are numeric'],
    ['18446744073709551616', '0', 'numbers wrap at 2^64 as in apk'],
    ['1-r18446744073709551617', '1-r1', 'revision numbers wrap too'],
    ['1.18446744073709551617', '1.1', 'so do numbers after a dot without a leading zero'],
    ['1.0bc', '1.0bd', 'two versions invalid at the same token compare equal'],
    ['', '', 'the empty version is invalid'],
    ['abc', '', 'so is one without a leading number'],
  ];
  for (const [a, b, why] of equal) {
    it(`${JSON.stringify(a)} = ${JSON.stringify(b)}: ${why}`, () => {
      assert.equal(compareApkVersions(a, b), 0);
      assert.equal(compareApkVersions(b, a), 0);
    });
  }

  const less: Array<[string, string, string]> = [
    ['1.01', '1.1', '"01" < "1" as strings'],
    ['1.01', '1.010', 'a string prefix sorts first'],
    ['1.0', '1.00', '"0" < "00"'],
    ['18446744073709551614', '18446744073709551615', 'the largest 64-bit numbers'],
    ['1.0bc', '1.0b', 'an invalid token sorts below the end'],
    ['1.0A', '1.0', 'upper-case letters are invalid'],
    ['', '0', 'an invalid version sorts below a valid one with nothing in common'],
  ];
  for (const [a, b, why] of less) {
    it(`${JSON.stringify(a)} < ${JSON.stringify(b)}: ${why}`, () => {
      assert.equal(compareApkVersions(a, b), -1);
      assert.equal(compareApkVersions(b, a), 1);
    });
  }
});

describe('isValidApkVersion', () => {
  it('accepts the grammar digits{.digits}[letter]{_suffix[N]}[~hash][-rN]', () => {
    for (const v of ['0', '1.2.3', '2.3.0b-r1', '1.0_rc1_p2', '1.0~deadbeef', '1.0a_git20240101~0abc-r12', '20040406-r1']) {
      assert.equal(isValidApkVersion(v), true, v);
    }
  });
  it('refuses what apk refuses', () => {
    for (const v of [
      '',
      'v1.0',
      '1.0-1',
      '1.0-r',
      '1..0',
      '1.0.',
      '1.0ab',
      '1.0_RC1',
      '1.0~ABC',
      '1.0~',
      '1.0-r1~abc',
      ' 1.0',
      '1.0 ',
      '١',
    ]) {
      assert.equal(isValidApkVersion(v), false, JSON.stringify(v));
    }
  });
});

describe('satisfiesApkConstraint', () => {
  const cases: Array<[string, ApkVersionOp, string, boolean]> = [
    ['1.2-r0', '>=', '1.2', true],
    ['1.2', '>=', '1.2-r0', false],
    ['1.2_rc1', '<', '1.2', true],
    ['1.2', '=', '1.2', true],
    ['1.2', '=', '01.2', true],
    ['1.2-r1', '=', '1.2', false],
    ['1.2', '<=', '1.2', true],
    ['1.3', '>', '1.2.9', true],
    // ~ is a token prefix match on the wanted version (version.c's fuzzy compare).
    ['3.6.9-r1', '~', '3.6', true],
    ['3.6-r2', '~', '3.6', true],
    ['3.6_rc1', '~', '3.6', true],
    ['3.6a', '~', '3.6', true],
    ['3.6~abc', '~', '3.6', true],
    ['03.6', '~', '3.6', true],
    ['3.6.0-r1', '~', '3.6.0-r1', true],
    ['3.60', '~', '3.6', false],
    ['3.06', '~', '3.6', false],
    ['3.6', '~', '3.6.0', false],
    ['3.6', '~', '3.6-r0', false],
    ['3.6.0-r10', '~', '3.6.0-r1', false],
    ['3.5.9', '<~', '3.6', true],
    ['3.6.9', '<~', '3.6', true],
    ['3.7', '<~', '3.6', false],
    ['3.5', '>~', '3.6', false],
    ['3.6.1', '>~', '3.6', true],
    ['3.7', '>~', '3.6', true],
  ];
  for (const [version, op, wanted, expected] of cases) {
    it(`${version} ${expected ? 'satisfies' : 'does not satisfy'} ${op}${wanted}`, () => {
      assert.equal(satisfiesApkConstraint(version, op, wanted), expected);
    });
  }

  it('refuses the checksum pin, which matches a package and not a version', () => {
    assert.throws(
      () => satisfiesApkConstraint('1.0', '><' as ApkVersionOp, 'Q1abc'),
      (e: unknown) => isProvenantError(e, 'USAGE') && e.hint !== undefined,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Dependency atoms
// ---------------------------------------------------------------------------------------------

const CHECKSUM = 'Q1Z0x5ZnqKwR4GvR0cYqDP8mV1+Yo=';

describe('parseApkDependency', () => {
  const good: Array<[string, ApkDependency]> = [
    ['musl', { name: 'musl', conflict: false }],
    ['musl=1.2.5-r0', { name: 'musl', conflict: false, op: '=', version: '1.2.5-r0' }],
    ['zlib>=1.3', { name: 'zlib', conflict: false, op: '>=', version: '1.3' }],
    ['zlib<2', { name: 'zlib', conflict: false, op: '<', version: '2' }],
    ['zlib>1', { name: 'zlib', conflict: false, op: '>', version: '1' }],
    ['zlib<=2', { name: 'zlib', conflict: false, op: '<=', version: '2' }],
    ['python3~3.12', { name: 'python3', conflict: false, op: '~', version: '3.12' }],
    ['linux-lts<~6.7', { name: 'linux-lts', conflict: false, op: '<~', version: '6.7' }],
    ['linux-lts>~6.6', { name: 'linux-lts', conflict: false, op: '>~', version: '6.6' }],
    ['!busybox', { name: 'busybox', conflict: true }],
    ['!openssl<3', { name: 'openssl', conflict: true, op: '<', version: '3' }],
    ['curl@edge', { name: 'curl', conflict: false, tag: 'edge' }],
    ['!curl@edge>=8.0', { name: 'curl', conflict: true, op: '>=', version: '8.0', tag: 'edge' }],
    ['so:libc.musl-x86_64.so.1', { name: 'so:libc.musl-x86_64.so.1', conflict: false }],
    ['so:libc.musl-x86_64.so.1=1', { name: 'so:libc.musl-x86_64.so.1', conflict: false, op: '=', version: '1' }],
    ['cmd:sh', { name: 'cmd:sh', conflict: false }],
    ['cmd:[', { name: 'cmd:[', conflict: false }],
    ['cmd:g++=14.2.0-r4', { name: 'cmd:g++', conflict: false, op: '=', version: '14.2.0-r4' }],
    ['pc:zlib', { name: 'pc:zlib', conflict: false }],
    ['py3.12:setuptools=70.3.0-r0', { name: 'py3.12:setuptools', conflict: false, op: '=', version: '70.3.0-r0' }],
    [`hello><${CHECKSUM}`, { name: 'hello', conflict: false, op: '><', version: CHECKSUM }],
  ];
  for (const [text, dep] of good) {
    it(`reads ${text} and writes it back`, () => {
      assert.deepEqual(parseApkDependency(text), dep);
      assert.equal(formatApkDependency(dep), text);
    });
  }

  // apk reads the operator characters as a set of result bits, so other spellings mean the same.
  const spellings: Array<[string, ApkConstraintOp]> = [
    ['a==1', '='],
    ['a=>1', '>='],
    ['a=<1', '<='],
    ['a=~1', '~'],
    ['a~=1', '~'],
    ['a~<1', '<~'],
    [`a<>${CHECKSUM}`, '><'],
  ];
  for (const [text, op] of spellings) {
    it(`reads ${text} with the operator ${op}`, () => {
      assert.equal(parseApkDependency(text).op, op);
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['!', /no package name/],
    ['>=1.0', /no package name/],
    ['musl openrc', /whitespace/],
    ['musl=', /no version after "="/],
    ['musl>1<3', /invalid version "1<3"/],
    ['musl=1.0_foo', /invalid version/],
    ['musl=v1.0', /invalid version/],
    ['musl@', /empty repository tag/],
    ['musl@edge@testing', /repository tag/],
    ['mu$l', /characters apk does not allow/],
    ['!!musl', /characters apk does not allow/],
    ['müsl', /characters apk does not allow/],
    ['musl<>=1', /matches every version/],
    ['musl<=>1', /matches every version/],
    ['musl><1.0', /not an apk checksum/],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${JSON.stringify(text)} and quotes it`, () => {
      assert.throws(
        () => parseApkDependency(text, 'APKINDEX:12'),
        (e: unknown) =>
          isProvenantError(e, 'INVALID_PACKAGE') &&
          why.test(e.message) &&
          e.message.includes(JSON.stringify(text)) &&
          e.where === 'APKINDEX:12' &&
          e.hint !== undefined,
      );
    });
  }

  it('suggests two atoms for a version range', () => {
    assert.throws(
      () => parseApkDependency('musl>1<3'),
      (e: unknown) => isProvenantError(e) && /two/.test(e.hint ?? ''),
    );
  });
});

describe('formatApkDependency', () => {
  const bad: ApkDependency[] = [
    { name: '', conflict: false },
    { name: 'a b', conflict: false },
    { name: 'a@b', conflict: false },
    { name: 'a', conflict: false, op: '=' },
    { name: 'a', conflict: false, version: '1' },
    { name: 'a', conflict: false, op: '>=', version: '1.0_foo' },
    { name: 'a', conflict: false, op: '><', version: '1.0' },
    { name: 'a', conflict: false, op: '=>' as ApkConstraintOp, version: '1' },
    { name: 'a', conflict: false, tag: '' },
  ];
  for (const dep of bad) {
    it(`refuses ${JSON.stringify(dep)}, which would not read back`, () => {
      assert.throws(
        () => formatApkDependency(dep),
        (e: unknown) => isProvenantError(e, 'INVALID_PACKAGE'),
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const U64 = 2n ** 64n;
const wrap = (digits: string): string => (BigInt(digits) % U64).toString();

// A structured valid version, so a test can respell it and know its tokens.
interface Version {
  first: string;
  dots: string[];
  letter: string | undefined;
  suffixes: Array<{ name: string; num: string | undefined }>;
  hash: string | undefined;
  rev: string | undefined;
}

// Few distinct values, so equal tokens (and equal versions) come up often; a few numbers past 2^64.
const numberArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('0', '1', '2', '9', '10', '12') },
  { weight: 2, arbitrary: fc.constantFrom('00', '01', '010', '09') },
  { weight: 1, arbitrary: fc.constantFrom('18446744073709551615', '18446744073709551616', '18446744073709551617') },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String) },
);
const SUFFIX_NAMES = ['alpha', 'beta', 'pre', 'rc', 'cvs', 'svn', 'git', 'hg', 'p'] as const;
const versionArb: fc.Arbitrary<Version> = fc.record({
  first: numberArb,
  dots: fc.array(numberArb, { maxLength: 3 }),
  letter: fc.option(fc.constantFrom('a', 'b', 'z'), { nil: undefined }),
  suffixes: fc.array(fc.record({ name: fc.constantFrom(...SUFFIX_NAMES), num: fc.option(numberArb, { nil: undefined }) }), {
    maxLength: 2,
  }),
  hash: fc.option(fc.constantFrom('0', 'abc', 'abd', 'deadbeef', '0123456789abcdef'), { nil: undefined }),
  rev: fc.option(numberArb, { nil: undefined }),
});

/** The version's tokens as text, in order; every non-empty prefix of them is a valid version. */
function tokens(v: Version): string[] {
  return [
    v.first,
    ...v.dots.map((d) => `.${d}`),
    ...(v.letter === undefined ? [] : [v.letter]),
    ...v.suffixes.flatMap((s) => (s.num === undefined ? [`_${s.name}`] : [`_${s.name}`, s.num])),
    ...(v.hash === undefined ? [] : [`~${v.hash}`]),
    ...(v.rev === undefined ? [] : [`-r${v.rev}`]),
  ];
}
const render = (v: Version): string => tokens(v).join('');

/**
 * What compareApkVersions sees of a version, worked out from the rules rather than the scanner:
 * numbers modulo 2^64, except that a number after a dot with a leading zero is kept as text.
 */
function normalForm(v: Version): string {
  return JSON.stringify([
    wrap(v.first),
    v.dots.map((d) => (d.startsWith('0') ? `'${d}` : wrap(d))),
    v.letter ?? null,
    v.suffixes.map((s) => [s.name, s.num === undefined ? null : wrap(s.num)]),
    v.hash ?? null,
    v.rev === undefined ? null : wrap(v.rev),
  ]);
}

/** The same version spelled differently: leading zeros and multiples of 2^64 where apk ignores them. */
const respellingArb = (v: Version): fc.Arbitrary<Version> => {
  const numeric = (n: string): fc.Arbitrary<string> =>
    fc.constantFrom(n, `0${n}`, `00${n}`, (BigInt(n) + U64).toString(), (BigInt(n) + 3n * U64).toString());
  const afterDot = (n: string): fc.Arbitrary<string> =>
    n.startsWith('0') ? fc.constant(n) : fc.constantFrom(n, (BigInt(n) + U64).toString());
  return fc.record({
    first: numeric(v.first),
    dots: fc.tuple(...v.dots.map(afterDot)),
    letter: fc.constant(v.letter),
    suffixes: fc.tuple(
      ...v.suffixes.map((s) =>
        fc.record({ name: fc.constant(s.name), num: s.num === undefined ? fc.constant(undefined) : numeric(s.num) }),
      ),
    ),
    hash: fc.constant(v.hash),
    rev: v.rev === undefined ? fc.constant(undefined) : numeric(v.rev),
  });
};

// Any string at all, weighted towards the characters and pieces a version is made of.
const VERSION_PIECES = ['.', '_', '-', '-r', '~', 'a', 'b', 'f', 'g', 'r', 'A', '0', '1', '9', '_rc', '_p', '_alpha', '_foo', ' '];
const anyVersionArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: versionArb.map(render) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...VERSION_PIECES), { maxLength: 8 }).map((p) => p.join('')) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(versionArb.map(render), fc.nat(), fc.constantFrom(...VERSION_PIECES))
      .map(([v, at, piece]) => v.slice(0, at % (v.length + 1)) + piece + v.slice(at % (v.length + 1))),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

// The grammar in the comment at the top of version.c, written out independently of the scanner.
const GRAMMAR = /^[0-9]+(?:\.[0-9]+)*[a-z]?(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(?:~[0-9a-f]+)?(?:-r[0-9]+)?$/;

describe('properties of compareApkVersions', () => {
  it('is reflexive', () => {
    fc.assert(fc.property(anyVersionArb, (a) => compareApkVersions(a, a) === 0));
  });

  it('is antisymmetric: compare(a, b) = -compare(b, a)', () => {
    fc.assert(
      fc.property(anyVersionArb, anyVersionArb, (a, b) => compareApkVersions(a, b) === -compareApkVersions(b, a)),
      { numRuns: 1000 },
    );
  });

  it('is transitive on triples', () => {
    fc.assert(
      fc.property(anyVersionArb, anyVersionArb, anyVersionArb, (a, b, c) => {
        const ab = compareApkVersions(a, b);
        const bc = compareApkVersions(b, c);
        const ac = compareApkVersions(a, c);
        if (ab <= 0 && bc <= 0) assert.ok(ac <= 0, `${a} <= ${b} <= ${c} but not ${a} <= ${c}`);
        if (ab === 0 && bc === 0) assert.equal(ac, 0);
        if (ab < 0 && bc <= 0) assert.equal(ac, -1);
      }),
      { numRuns: 1000 },
    );
  });

  it('sorts any list into an order every pair agrees with (a total preorder)', () => {
    fc.assert(
      fc.property(fc.array(anyVersionArb, { minLength: 2, maxLength: 12 }), (list) => {
        const sorted = [...list].sort(compareApkVersions);
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length; j++) {
            const ij = compareApkVersions(sorted[i]!, sorted[j]!);
            assert.ok(ij <= 0, `${sorted[i]} sorted before ${sorted[j]} but compares greater`);
            // Equal versions sit together: nothing between two equal ones compares differently.
            if (ij === 0) for (let k = i + 1; k < j; k++) assert.equal(compareApkVersions(sorted[i]!, sorted[k]!), 0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('calls two valid versions equal exactly when their normal forms are equal', () => {
    fc.assert(
      fc.property(versionArb, versionArb, (a, b) => {
        assert.equal(compareApkVersions(render(a), render(b)) === 0, normalForm(a) === normalForm(b), `${render(a)} vs ${render(b)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it('ignores leading zeros and multiples of 2^64 where apk does', () => {
    fc.assert(
      fc.property(
        versionArb.chain((v) => fc.tuple(fc.constant(v), respellingArb(v))),
        ([v, w]) => {
          assert.equal(normalForm(v), normalForm(w));
          assert.equal(compareApkVersions(render(v), render(w)), 0, `${render(v)} vs ${render(w)}`);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('properties of isValidApkVersion', () => {
  it('agrees with the grammar of version.c on any string', () => {
    fc.assert(
      fc.property(anyVersionArb, (v) => isValidApkVersion(v) === GRAMMAR.test(v)),
      { numRuns: 2000 },
    );
  });

  it('accepts every generated version and every prefix of its tokens', () => {
    fc.assert(
      fc.property(versionArb, (v) => {
        const t = tokens(v);
        for (let k = 1; k <= t.length; k++) assert.ok(isValidApkVersion(t.slice(0, k).join('')), t.slice(0, k).join(''));
      }),
    );
  });
});

describe('properties of satisfiesApkConstraint', () => {
  it('agrees with compareApkVersions for =, <, >, <=, >=', () => {
    fc.assert(
      fc.property(anyVersionArb, anyVersionArb, (a, b) => {
        const r = compareApkVersions(a, b);
        assert.equal(satisfiesApkConstraint(a, '=', b), r === 0);
        assert.equal(satisfiesApkConstraint(a, '<', b), r < 0);
        assert.equal(satisfiesApkConstraint(a, '>', b), r > 0);
        assert.equal(satisfiesApkConstraint(a, '<=', b), r <= 0);
        assert.equal(satisfiesApkConstraint(a, '>=', b), r >= 0);
      }),
      { numRuns: 1000 },
    );
  });

  it('makes ~ an equality widened to versions that extend the wanted one, and <~, >~ its unions', () => {
    fc.assert(
      fc.property(anyVersionArb, anyVersionArb, (a, b) => {
        const r = compareApkVersions(a, b);
        const fuzzy = satisfiesApkConstraint(a, '~', b);
        if (r === 0) assert.ok(fuzzy, `${a} = ${b} but not ${a} ~ ${b}`);
        assert.equal(satisfiesApkConstraint(a, '<~', b), r < 0 || fuzzy);
        assert.equal(satisfiesApkConstraint(a, '>~', b), r > 0 || fuzzy);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches ~ on every prefix of a version’s tokens, and on nothing the version is a strict prefix of', () => {
    fc.assert(
      fc.property(versionArb, fc.nat(), (v, n) => {
        const t = tokens(v);
        const k = 1 + (n % t.length);
        const full = t.join('');
        const prefix = t.slice(0, k).join('');
        assert.ok(satisfiesApkConstraint(full, '~', prefix), `${full} ~ ${prefix}`);
        if (k < t.length) assert.ok(!satisfiesApkConstraint(prefix, '~', full), `not ${prefix} ~ ${full}`);
      }),
      { numRuns: 500 },
    );
  });
});

const nameArb = fc.oneof(
  fc.stringMatching(/^[a-z0-9][a-z0-9+._-]{0,20}$/),
  fc
    .tuple(fc.constantFrom('so:', 'cmd:', 'pc:', 'py3.12:'), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9+._-]{0,20}$/))
    .map(([p, n]) => p + n),
  fc.constantFrom('cmd:[', 'cmd:[[', 'so:libc.musl-x86_64.so.1', 'cmd:g++'),
);
const checksumArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => `Q1${Buffer.from(b).toString('base64')}`);
const constraintArb = fc.oneof(
  fc.record({ op: fc.constantFrom<ApkConstraintOp>('=', '<', '>', '<=', '>=', '~', '<~', '>~'), version: versionArb.map(render) }),
  fc.record({ op: fc.constant<ApkConstraintOp>('><'), version: checksumArb }),
);
const dependencyArb: fc.Arbitrary<ApkDependency> = fc
  .record({
    name: nameArb,
    conflict: fc.boolean(),
    tag: fc.option(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/), { nil: undefined }),
    constraint: fc.option(constraintArb, { nil: undefined }),
  })
  .map(({ name, conflict, tag, constraint }) => ({
    name,
    conflict,
    ...(constraint === undefined ? {} : constraint),
    ...(tag === undefined ? {} : { tag }),
  }));

describe('properties of parseApkDependency and formatApkDependency', () => {
  it('parse(format(dep)) gives back dep', () => {
    fc.assert(
      fc.property(dependencyArb, (dep) => {
        const text = formatApkDependency(dep);
        assert.deepEqual(parseApkDependency(text), dep);
        assert.equal(formatApkDependency(parseApkDependency(text)), text);
      }),
      { numRuns: 1000 },
    );
  });

  it('on any string, either parses to something that formats and parses the same, or throws INVALID_PACKAGE quoting it', () => {
    const atomArb = fc.oneof(
      dependencyArb.map(formatApkDependency),
      fc
        .array(fc.constantFrom('!', 'a', 'so:', '@', 'edge', '<', '>', '=', '~', '1.0', '-r1', 'Q1', ' ', '$'), { maxLength: 8 })
        .map((p) => p.join('')),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(atomArb, (text) => {
        let dep: ApkDependency;
        try {
          dep = parseApkDependency(text);
        } catch (e) {
          assert.ok(isProvenantError(e, 'INVALID_PACKAGE'), String(e));
          assert.ok(e.message.includes(JSON.stringify(text)), e.message);
          return;
        }
        assert.deepEqual(parseApkDependency(formatApkDependency(dep)), dep);
      }),
      { numRuns: 1000 },
    );
  });
});
