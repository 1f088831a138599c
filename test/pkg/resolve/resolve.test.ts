import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import { type ApkPackageInfo, readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { apkCandidates, apkVersionScheme } from '../../../src/pkg/apk/candidates.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { apkRequest } from '../../../src/pkg/apk/source.ts';
import { debVersionScheme } from '../../../src/pkg/deb/candidates.ts';
import {
  type Candidate,
  type CandidateIndex,
  candidateIndex,
  checkSameVersions,
  type Request,
  type Requirement,
  resolve,
} from '../../../src/pkg/resolve/resolve.ts';
import { fixture, fixturesMissing, readFixture } from '../../helpers/fixtures.ts';

function info(name: string, version: string, fields: Partial<ApkPackageInfo> = {}): ApkPackageInfo {
  return {
    name,
    version,
    arch: 'x86_64',
    checksum: `Q1${name}-${version}`,
    size: 1,
    installedSize: 1,
    description: '',
    url: '',
    license: '',
    origin: name,
    maintainer: '',
    buildTime: 0,
    commit: '',
    depends: [],
    provides: [],
    installIf: [],
    replaces: [],
    providerPriority: undefined,
    replacesPriority: undefined,
    extra: {},
    ...fields,
  };
}

function solve(requests: string[], infos: ApkPackageInfo[], tagged: ApkPackageInfo[] = []) {
  const { candidates } = apkCandidates(infos, 'main', '', 0, 'test');
  const { candidates: more } = apkCandidates(tagged, 'edge', 'edge', 1, 'test');
  return resolve(
    requests.map((r) => apkRequest(r)),
    [...candidates, ...more],
    apkVersionScheme,
  ).packages.map((p) => `${p.name}-${p.version}`);
}

const unresolvable = (pattern: RegExp) => (err: unknown) => isProvenantError(err, 'UNRESOLVABLE') && pattern.test(err.message);
const notFound = (pattern: RegExp) => (err: unknown) => isProvenantError(err, 'NOT_FOUND') && pattern.test(err.message);

describe('resolve (apk)', () => {
  it('takes the newest version, honours constraints, and follows so:/cmd:/pc: provides', () => {
    const repo = [
      info('app', '1.0-r0', { depends: ['so:libz.so.1', 'cmd:sh', 'pc:zlib>=1.2'] }),
      info('app', '1.1-r0', { depends: ['so:libz.so.1', 'cmd:sh'] }),
      info('zlib', '1.2.13-r0', { provides: ['so:libz.so.1=1', 'pc:zlib=1.2.13'] }),
      info('zlib', '1.3-r0', { provides: ['so:libz.so.1=1', 'pc:zlib=1.3'] }),
      info('busybox', '1.36-r0', { provides: ['cmd:sh=1.36-r0'] }),
    ];
    assert.deepEqual(solve(['app'], repo), ['app-1.1-r0', 'busybox-1.36-r0', 'zlib-1.3-r0']);
    assert.deepEqual(solve(['app=1.0-r0', 'zlib<1.3'], repo), ['app-1.0-r0', 'busybox-1.36-r0', 'zlib-1.2.13-r0']);
    assert.deepEqual(solve(['app~1.0'], repo), ['app-1.0-r0', 'busybox-1.36-r0', 'zlib-1.3-r0']);
  });

  it('prefers a real name over a provide, then the provider priority', () => {
    const repo = [
      info('sh-a', '9-r0', { provides: ['cmd:sh'], providerPriority: 10 }),
      info('sh-b', '1-r0', { provides: ['cmd:sh'], providerPriority: 100 }),
      info('cmd:sh', '0.1-r0'),
    ];
    assert.deepEqual(solve(['cmd:sh'], repo), ['cmd:sh-0.1-r0']);
    assert.deepEqual(solve(['cmd:sh'], repo.slice(0, 2)), ['sh-b-1-r0']);
    // An unversioned provide does not meet a versioned requirement.
    // What the request names and nothing provides is not found (exit 3); what a package needs is unresolvable.
    assert.throws(
      () => solve(['cmd:sh>=1'], repo.slice(0, 2)),
      notFound(/^nothing provides cmd:sh>=1, which contents\.packages asks for$/),
    );
  });

  it('differs from apko where docs/build.md says: priority before provided version, the real name before a provide', () => {
    const ranked = [info('a', '1-r0', { provides: ['foo=2.0'] }), info('b', '1-r0', { provides: ['foo=1.0'], providerPriority: 10 })];
    assert.deepEqual(solve(['foo'], ranked), ['b-1-r0']);
    assert.deepEqual(solve(['foo'], [info('foo', '1.0-r0'), info('bar', '1-r0', { provides: ['foo=2.0-r0'] })]), ['foo-1.0-r0']);
  });

  it('ranks providers by the version they provide, then by their own, as apk-tools and apko do', () => {
    const repo = [
      info('libfoo-compat', '9.0-r0', { provides: ['so:libfoo.so.1=1.0'] }),
      info('libfoo', '2.0-r0', { provides: ['so:libfoo.so.1=2.0'] }),
    ];
    assert.deepEqual(solve(['so:libfoo.so.1'], repo), ['libfoo-2.0-r0']);
    assert.deepEqual(solve(['so:libfoo.so.1'], [...repo].reverse()), ['libfoo-2.0-r0'], 'whatever the order of the index');
    // The same version provided: the newer package; an unversioned provide offers its package's version.
    assert.deepEqual(
      solve(
        ['so:libbar.so.1'],
        [info('bar-a', '1-r0', { provides: ['so:libbar.so.1=3'] }), info('bar-b', '2-r0', { provides: ['so:libbar.so.1=3'] })],
      ),
      ['bar-b-2-r0'],
    );
    assert.deepEqual(solve(['cmd:x'], [info('x-a', '5-r0', { provides: ['cmd:x'] }), info('x-b', '4-r0', { provides: ['cmd:x=4.5'] })]), [
      'x-a-5-r0',
    ]);
    // Provider priority still comes first.
    assert.deepEqual(
      solve(
        ['so:libfoo.so.1'],
        [
          repo[0]!,
          info('libfoo', '2.0-r0', { provides: ['so:libfoo.so.1=2.0'], providerPriority: 0 }),
          { ...repo[0]!, name: 'hi', checksum: 'Q1hi', providerPriority: 5 },
        ],
      ),
      ['hi-9.0-r0'],
    );
  });

  it('ranks an old-style so: provide (no -rN) below one carrying the package version, as apko does', () => {
    // Wolfi: builds from before melange#1871 provide the soname's version, later ones the package's.
    const repo = [
      info('app', '1-r0', { depends: ['so:libpng16.so.16'] }),
      info('libpng', '1.6.40-r0', { provides: ['so:libpng16.so.16=16'] }),
      info('libpng', '1.6.44-r0', { provides: ['so:libpng16.so.16=1.6.44-r0'] }),
    ];
    assert.deepEqual(solve(['app'], repo), ['app-1-r0', 'libpng-1.6.44-r0']);
    assert.deepEqual(solve(['app'], [repo[0]!, repo[2]!, repo[1]!]), ['app-1-r0', 'libpng-1.6.44-r0'], 'whatever the order');
    // Two old-style provides still rank by their versions; other names are not touched.
    const old = [info('a', '1-r0', { provides: ['so:libq.so.1=1.2'] }), info('b', '1-r0', { provides: ['so:libq.so.1=1.10'] })];
    assert.deepEqual(solve(['so:libq.so.1'], old), ['b-1-r0']);
    const cmd = [info('a', '1-r0', { provides: ['cmd:q=16'] }), info('b', '1-r0', { provides: ['cmd:q=1.6.44-r0'] })];
    assert.deepEqual(solve(['cmd:q'], cmd), ['a-1-r0']);
  });

  it('ranks providers by their own versions with a scheme without rankByProvidedVersion (Debian)', () => {
    const { candidates } = apkCandidates(
      [
        info('libfoo-compat', '9.0-r0', { provides: ['so:libfoo.so.1=1.0'] }),
        info('libfoo', '2.0-r0', { provides: ['so:libfoo.so.1=2.0'] }),
      ],
      'main',
      '',
      0,
      'test',
    );
    const { rankByProvidedVersion: _, ...packageVersions } = apkVersionScheme;
    const chosen = resolve([apkRequest('so:libfoo.so.1')], candidates, packageVersions).packages.map((p) => p.name);
    assert.deepEqual(chosen, ['libfoo-compat']);
  });

  it('uses a pinned repository only when asked, and lets its packages pull from it', () => {
    const main = [info('app', '1-r0'), info('lib', '1-r0')];
    const edge = [info('app', '2-r0', { depends: ['lib>=2'] }), info('lib', '2-r0')];
    assert.deepEqual(solve(['app'], main, edge), ['app-1-r0']);
    assert.deepEqual(solve(['app@edge'], main, edge), ['app-2-r0', 'lib-2-r0']);
  });

  it('takes name@tag from the tagged repository even when another has a newer version, and reads apko’s name=version@tag', () => {
    assert.deepEqual(solve(['foo@edge'], [info('foo', '2-r0')], [info('foo', '1.5-r0')]), ['foo-1.5-r0']);
    const { candidates } = apkCandidates([info('foo', '2-r0')], 'main', '', 0, 'test');
    const { candidates: edge } = apkCandidates([info('foo', '1.5-r0')], 'edge', 'edge', 1, 'test');
    const chosen = resolve([apkRequest('foo@edge')], [...candidates, ...edge], apkVersionScheme).packages;
    assert.deepEqual(
      chosen.map((c) => c.repoTag),
      ['edge'],
    );
    // apko's spelling, the tag after the version, reads as apk's `name@tag=version`.
    const edge2 = [info('foo', '1.5-r0'), info('foo', '1.6-r0')];
    assert.deepEqual(solve(['foo=1.5-r0@edge'], [info('foo', '2-r0')], edge2), ['foo-1.5-r0']);
    assert.deepEqual(apkRequest('foo=1.5-r0@edge'), apkRequest('foo@edge=1.5-r0'));
    assert.deepEqual(apkRequest('!foo>1@edge'), { name: 'foo', constraint: { op: '>', version: '1' }, tag: 'edge', conflict: true });
    assert.throws(
      () => apkRequest('foo@a=1@b'),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
    // Without the tag, the tagged repository is not used at all.
    assert.deepEqual(solve(['foo'], [info('foo', '2-r0')], [info('foo', '3-r0')]), ['foo-2-r0']);
  });

  it('adds install_if packages once their conditions hold', () => {
    const repo = [info('app', '1-r0'), info('docs', '1-r0'), info('app-doc', '1-r0', { installIf: ['app=1-r0', 'docs'] })];
    assert.deepEqual(solve(['app'], repo), ['app-1-r0']);
    assert.deepEqual(solve(['app', 'docs'], repo), ['app-1-r0', 'app-doc-1-r0', 'docs-1-r0']);
  });

  it('reads a !name install_if condition as met while nothing chosen meets it, as apk-tools does', () => {
    const repo = [info('foo', '1-r0'), info('bar', '1-r0'), info('foo-extra', '1-r0', { installIf: ['foo', '!bar'] })];
    assert.deepEqual(solve(['foo'], repo), ['foo-1-r0', 'foo-extra-1-r0']);
    assert.deepEqual(solve(['foo', 'bar'], repo), ['bar-1-r0', 'foo-1-r0']);
    // Met through a provide as well.
    assert.deepEqual(solve(['foo', 'baz'], [...repo, info('baz', '1-r0', { provides: ['bar=2-r0'] })]), ['baz-1-r0', 'foo-1-r0']);
  });

  it('says what is missing and what needed it, and refuses conflicts', () => {
    const repo = [
      info('a', '1-r0', { depends: ['b'] }),
      info('b', '1-r0', { depends: ['so:libmissing.so.3'] }),
      info('c', '1-r0', { depends: ['!b'] }),
    ];
    assert.throws(() => solve(['a'], repo), unresolvable(/nothing provides so:libmissing\.so\.3 \(needed by b-1-r0, needed by a-1-r0\)/));
    const ok = [info('a', '1-r0'), info('c', '1-r0', { depends: ['!a'] })];
    assert.throws(
      () => solve(['a', 'c'], ok),
      unresolvable(/^cannot install c \(needed by the request\): c-1-r0 conflicts with a-1-r0 \(needed by the request\): !a$/),
    );
    // Who pulled the conflicting package in, not the package itself.
    const pulled = [info('top', '1-r0', { depends: ['a'] }), ...ok];
    assert.throws(
      () => solve(['top', 'c'], pulled),
      unresolvable(/^cannot install a \(needed by top-1-r0\): c-1-r0 \(needed by the request\) conflicts with a-1-r0: !a$/),
    );
    assert.throws(() => solve(['a', '!a'], ok), unresolvable(/conflicts with the request/));
    assert.throws(() => solve(['a=2-r0'], ok), notFound(/nothing provides a=2-r0/));
    // One version per name: a dependency cannot downgrade a requested package.
    const pinned = [info('x', '1-r0', { depends: ['y<2'] }), info('y', '1-r0'), info('y', '2-r0')];
    assert.throws(() => solve(['y=2-r0', 'x'], pinned), unresolvable(/cannot install y<2 .*y-2-r0 is already chosen \(for the request\)/));
  });

  it('takes a >< checksum pin as the package with that checksum, as apk-tools does', () => {
    const repo = [
      { ...info('foo', '1-r0'), checksum: 'Q1Zm9vMXIwAAAAAAAAAAAAAAAAAAAAA=' },
      { ...info('foo', '2-r0'), checksum: 'Q1Zm9vMnIwAAAAAAAAAAAAAAAAAAAAA=' },
      info('bar', '1-r0', { provides: ['foo=3-r0'] }),
    ];
    assert.deepEqual(solve(['foo><Q1Zm9vMXIwAAAAAAAAAAAAAAAAAAAAA='], repo), ['foo-1-r0']);
    // It binds the name for a dependency too, and a provide never meets it.
    assert.deepEqual(solve(['app', 'foo><Q1Zm9vMXIwAAAAAAAAAAAAAAAAAAAAA='], [...repo, info('app', '1-r0', { depends: ['foo'] })]), [
      'app-1-r0',
      'foo-1-r0',
    ]);
    assert.throws(() => solve(['foo><Q1bm9uZQAAAAAAAAAAAAAAAAAAAAAAAAA='], repo), notFound(/nothing provides foo></));
  });

  it("binds every choice of a name to a request's constraint on it, whatever the order of the requests", () => {
    const bb = [info('busybox', '1.35-r0', { provides: ['cmd:sh=1.35-r0'] }), info('busybox', '1.36-r0', { provides: ['cmd:sh=1.36-r0'] })];
    assert.deepEqual(solve(['busybox=1.35-r0', 'cmd:sh'], bb), ['busybox-1.35-r0']);
    assert.deepEqual(solve(['cmd:sh', 'busybox=1.35-r0'], bb), ['busybox-1.35-r0']);
    // Through a dependency too, and on a provided name.
    const app = info('app', '1-r0', { depends: ['cmd:sh'] });
    assert.deepEqual(solve(['app', 'busybox<1.36'], [app, ...bb]), ['app-1-r0', 'busybox-1.35-r0']);
    assert.deepEqual(solve(['app', 'cmd:sh<1.36'], [app, ...bb]), ['app-1-r0', 'busybox-1.35-r0']);
    // When the constraint rules out every candidate, the error names it.
    assert.throws(
      () => solve(['cmd:sh', 'busybox>2'], bb),
      unresolvable(
        /^cannot install cmd:sh \(needed by the request\): busybox-1\.3[56]-r0 does not satisfy busybox>2, which contents\.packages asks for$/,
      ),
    );
  });

  it('passes over a candidate that conflicts with what is chosen, as apk and apt find an installable set', () => {
    // A provider: the one the request refuses gives way to the other, whatever its priority.
    const providers = [
      info('x', '1-r0', { depends: ['cmd:y'] }),
      info('bad', '1-r0', { provides: ['cmd:y'], providerPriority: 10 }),
      info('good', '1-r0', { provides: ['cmd:y'] }),
    ];
    assert.deepEqual(solve(['x'], providers), ['bad-1-r0', 'x-1-r0']);
    assert.deepEqual(solve(['x', '!bad'], providers), ['good-1-r0', 'x-1-r0']);
    // An alternative: the first conflicts with a chosen package, the second does not.
    const alternatives = [info('app', '1-r0'), info('top', '1-r0', { depends: ['a'] }), info('a', '1-r0', { depends: ['!app'] })];
    const deb = (list: ApkPackageInfo[]) =>
      resolve(
        [{ name: 'app' }, { name: 'top' }],
        apkCandidates(list, 'main', '', 0, 'test').candidates.map((c) =>
          c.name === 'top' ? { ...c, depends: [[{ name: 'a' }, { name: 'b' }]] } : c,
        ),
        apkVersionScheme,
      ).packages.map((p) => p.name);
    assert.deepEqual(deb([...alternatives, info('b', '1-r0')]), ['app', 'b', 'top']);
    // Never an older version of the package: the newest conflicts, and the one before is not taken.
    const versions = [info('app', '1-r0', { depends: ['lib'] }), info('lib', '1-r0'), info('lib', '2-r0', { depends: ['!app'] })];
    assert.throws(
      () => solve(['app'], versions),
      unresolvable(/^cannot install lib \(needed by app-1-r0\): lib-2-r0 conflicts with app-1-r0/),
    );
    // install_if: a package that would conflict is not added.
    const extra = [
      info('app', '1-r0', { depends: ['!app-doc'] }),
      info('doc', '1-r0'),
      info('app-doc', '1-r0', { installIf: ['app', 'doc'] }),
    ];
    assert.deepEqual(solve(['app', 'doc'], extra), ['app-1-r0', 'doc-1-r0']);
  });

  it('always yields a closure where every dependency is met (property)', () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const pkg = fc.record({
      name: fc.constantFrom(...names),
      version: fc.constantFrom('1-r0', '1.1-r0', '2-r0'),
      depends: fc.array(fc.constantFrom(...names.map((n) => n), 'c>=1.1', 'd<2'), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(pkg, { maxLength: 10 }), fc.subarray(names, { minLength: 1 }), (pkgs, request) => {
        const seen = new Set<string>();
        const infos = pkgs
          .filter((p) => !seen.has(`${p.name}-${p.version}`) && seen.add(`${p.name}-${p.version}`))
          .map((p) => info(p.name, p.version, { depends: p.depends }));
        const { candidates } = apkCandidates(infos, 'main', '', 0, 't');
        let result: ReturnType<typeof resolve>;
        try {
          result = resolve(
            request.map((r) => apkRequest(r)),
            candidates,
            apkVersionScheme,
          );
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNRESOLVABLE', 'NOT_FOUND'), String(err));
          return;
        }
        const chosen = new Map(result.packages.map((p) => [p.name, p]));
        assert.equal(chosen.size, result.packages.length, 'one version per name');
        for (const p of result.packages) {
          for (const [dep] of p.depends) {
            assert.ok(dep);
            const got = chosen.get(dep.name);
            assert.ok(
              got !== undefined && (dep.constraint === undefined || apkVersionScheme.satisfies(got.version, dep.constraint)),
              `${p.name} needs ${dep.name}`,
            );
          }
        }
        for (const r of request) assert.ok(chosen.has(r));
      }),
      { numRuns: 300 },
    );
  });

  it('requires every architecture to agree on versions', () => {
    const x = apkCandidates([info('a', '1-r0'), info('b', '1-r0')], 'm', '', 0, 't').candidates;
    const y = apkCandidates([info('a', '2-r0')], 'm', '', 0, 't').candidates;
    checkSameVersions(
      new Map([
        ['x86_64', x],
        ['aarch64', x.slice(0, 1)],
      ]),
    );
    assert.throws(
      () =>
        checkSameVersions(
          new Map([
            ['x86_64', x],
            ['aarch64', y],
          ]),
        ),
      unresolvable(/^a resolves to different versions: 1-r0 on x86_64, 2-r0 on aarch64$/),
    );
  });

  it("takes Debian's binNMUs of one version for the same package on every architecture, and nothing else", () => {
    const at = (version: string) => [{ name: 'grep', version }];
    const archs = (x: string, y: string) =>
      new Map([
        ['x86_64', at(x)],
        ['aarch64', at(y)],
      ]);
    // trixie's grep: rebuilt on arm64 alone; a rebuild on both; an epoch kept.
    for (const [x, y] of [
      ['3.11-4', '3.11-4+b1'],
      ['3.11-4+b2', '3.11-4+b1'],
      ['1:2.36-9+deb12u4', '1:2.36-9+deb12u4+b1'],
    ] as const) {
      checkSameVersions(archs(x, y), debVersionScheme);
    }
    for (const [x, y] of [
      ['3.11-4', '3.11-5'],
      ['3.11-4+b1', '3.11-5+b1'],
      ['2.36-9+deb12u4', '2.36-9+deb12u3+b1'],
      ['1:3.11-4', '3.11-4+b1'],
    ] as const) {
      assert.throws(
        () => checkSameVersions(archs(x, y), debVersionScheme),
        unresolvable(new RegExp(`^grep resolves to different versions: ${x.replace(/[+.]/g, '\\$&')} on x86_64`)),
      );
    }
    // apk has no such rebuilds: a suffix is another version there.
    assert.throws(() => checkSameVersions(archs('1.0-r0', '1.0-r0+b1'), apkVersionScheme), unresolvable(/^grep resolves/));
  });
});

describe('resolve against the real Alpine indexes', { skip: fixturesMissing }, () => {
  it('gives alpine-base a closure where every dependency is met, on 3.16 x86_64 and 3.17 aarch64', async () => {
    const keyring = new ApkKeyring();
    for (const f of readdirSync(fixture('apk'))) if (f.endsWith('.rsa.pub')) keyring.add(f, readFileSync(fixture('apk', f), 'utf8'));
    for (const [file, expect] of [
      ['alpine-v3.16-main-x86_64.APKINDEX.tar.gz', ['alpine-base-3.16.3-r0', 'busybox-1.35.0-r17', 'musl-1.2.3-r2', 'openrc-0.44.10-r7']],
      [
        'alpine-v3.17-main-aarch64.APKINDEX.tar.gz',
        ['alpine-base-3.17.3-r0', 'busybox-binsh-1.35.0-r29', 'musl-1.2.3-r5', 'libcrypto3-3.0.8-r4'],
      ],
    ] as const) {
      const index = await readApkIndex(await readFixture('apk', file), { keyring, where: file });
      const { candidates, skipped } = apkCandidates(index.packages, 'main', '', 0, file);
      assert.ok(skipped.length <= 5, `${skipped.length} packages skipped`);
      const { packages } = resolve([apkRequest('alpine-base')], candidates, apkVersionScheme);
      const ids = packages.map((p) => `${p.name}-${p.version}`);
      for (const e of expect) assert.ok(ids.includes(e), `${e} in ${ids.join(' ')}`);
      // Every dependency of every chosen package is met by a chosen package or a provide.
      for (const p of packages) {
        for (const [dep] of p.depends) {
          assert.ok(dep);
          const met = packages.some(
            (q) =>
              (q.name === dep.name && (dep.constraint === undefined || apkVersionScheme.satisfies(q.version, dep.constraint))) ||
              q.provides.some(
                (pr) =>
                  pr.name === dep.name &&
                  (dep.constraint === undefined || (pr.version !== undefined && apkVersionScheme.satisfies(pr.version, dep.constraint))),
              ),
          );
          assert.ok(met, `${p.name} needs ${dep.name}`);
        }
      }
    }
  });
});

// resolve takes a CandidateIndex as well as a list: the Debian build hands it one that parses
// stanzas only when their names are looked up. candidateIndex is checked against a plain
// filtering of the list, resolving against an index against resolving against the list, and a
// lazy index for which names the resolver asks.
describe('resolve with a CandidateIndex', () => {
  /** An index that filters the list on every call: what candidateIndex must agree with. */
  function filteringIndex<C extends Candidate>(list: readonly C[]): CandidateIndex<C> {
    return {
      named: (name) => list.filter((c) => c.name === name),
      providing: (name) =>
        list.flatMap((candidate) => candidate.provides.filter((p) => p.name === name).map((provision) => ({ candidate, provision }))),
      // Grouped by name, the names in order of their first candidate (with install_if or not).
      withInstallIf: () =>
        [...new Set(list.map((c) => c.name))]
          .map((name) => list.filter((c) => c.name === name && c.installIf.length > 0))
          .filter((group) => group.length > 0),
    };
  }

  /** An index that records the names it is asked for. */
  function countingIndex<C extends Candidate>(list: readonly C[]) {
    const inner = candidateIndex(list);
    const asked = new Map<string, number>();
    const calls = { installIf: 0 };
    const index: CandidateIndex<C> = {
      named(name) {
        asked.set(name, (asked.get(name) ?? 0) + 1);
        return inner.named(name);
      },
      providing(name) {
        asked.set(name, (asked.get(name) ?? 0) + 1);
        return inner.providing(name);
      },
      withInstallIf() {
        calls.installIf++;
        return inner.withInstallIf();
      },
    };
    return { index, asked, calls };
  }

  /** The chosen ids and why, or the error. */
  function outcome<C extends Candidate>(requests: readonly Request[], candidates: readonly C[] | CandidateIndex<C>): unknown {
    try {
      const { packages, reasons } = resolve(requests, candidates, apkVersionScheme);
      return { ids: packages.map((p) => p.id), reasons: [...reasons] };
    } catch (err) {
      assert.ok(isProvenantError(err, 'UNRESOLVABLE', 'NOT_FOUND'), String(err));
      return { error: err.message };
    }
  }

  // Candidates as the resolver sees them, apk-like (install_if, tags, provider priorities) and
  // deb-like (alternatives, conflicts), over a few names so that they meet.
  const NAMES = ['a', 'b', 'c', 'd', 'e'];
  const requirement = fc.record<Requirement>({
    name: fc.constantFrom(...NAMES, 'v', 'w'),
    constraint: fc.option(fc.constantFrom({ op: '>=', version: '2-r0' }, { op: '<', version: '2-r0' }), { nil: undefined }),
  });
  const candidate = fc.record({
    name: fc.constantFrom(...NAMES),
    version: fc.constantFrom('1-r0', '2-r0'),
    provides: fc.array(
      fc.record({ name: fc.constantFrom('v', 'w'), version: fc.option(fc.constantFrom('1-r0', '2-r0'), { nil: undefined }) }),
      {
        maxLength: 2,
      },
    ),
    depends: fc.array(fc.array(requirement, { minLength: 1, maxLength: 2 }), { maxLength: 2 }),
    conflicts: fc.array(requirement, { maxLength: 1 }),
    installIf: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: fc.array(requirement, { minLength: 1, maxLength: 2 }) },
    ),
    providerPriority: fc.option(fc.constantFrom(1, 10), { nil: undefined }),
    edge: fc.boolean(),
  });
  // Packages that only come in by install_if (as apk's -doc and -lang ones), on conditions mostly
  // without constraints, so that they hold now and then.
  const extra = fc.record({
    name: fc.constantFrom('doc', 'lang'),
    version: fc.constantFrom('1-r0', '2-r0'),
    provides: fc.constant([]),
    depends: fc.array(fc.array(requirement, { minLength: 1, maxLength: 1 }), { maxLength: 1 }),
    conflicts: fc.constant([]),
    installIf: fc.array(
      fc.oneof({ weight: 3, arbitrary: fc.record({ name: fc.constantFrom(...NAMES, 'v', 'doc') }) }, { weight: 1, arbitrary: requirement }),
      {
        minLength: 1,
        maxLength: 2,
      },
    ),
    providerPriority: fc.constant(undefined),
    // A tagged install_if package is never added; a few of them are enough.
    edge: fc.constantFrom(false, false, false, true),
  });
  const candidates = fc
    .array(fc.oneof({ weight: 3, arbitrary: candidate }, { weight: 1, arbitrary: extra }), { maxLength: 12 })
    .map((list) =>
      list.map(
        ({ edge, ...c }, i): Candidate => ({
          ...c,
          id: `${i}:${c.name}-${c.version}`,
          repoTag: edge ? 'edge' : '',
          repoOrder: edge ? 1 : 0,
        }),
      ),
    );
  const requests = fc.array(
    fc.record<Request>({
      name: fc.constantFrom(...NAMES, 'v'),
      tag: fc.option(fc.constant('edge'), { nil: undefined, freq: 4 }),
      conflict: fc.constantFrom(false, false, false, true),
    }),
    { minLength: 1, maxLength: 3 },
  );

  /** The names a resolution may look up when it fails: those reachable from the requests and from any install_if candidate. */
  function reachable(requests: readonly Request[], list: readonly Candidate[]): Set<string> {
    const seen = new Set(requests.filter((r) => !r.conflict).map((r) => r.name));
    const visit = (c: Candidate): void => {
      for (const r of c.depends.flat()) {
        if (seen.has(r.name)) continue;
        seen.add(r.name);
        queue.push(r.name);
      }
    };
    const queue = [...seen];
    for (const c of list) if (c.installIf.length > 0) visit(c);
    while (queue.length > 0) {
      const name = queue.pop() as string;
      for (const c of list) if (c.name === name || c.provides.some((p) => p.name === name)) visit(c);
    }
    return seen;
  }

  it('candidateIndex agrees with filtering the list (property)', () => {
    fc.assert(
      fc.property(candidates, (list) => {
        const index = candidateIndex(list);
        const plain = filteringIndex(list);
        for (const name of [...NAMES, 'doc', 'lang', 'v', 'w', 'absent']) {
          assert.deepEqual(index.named(name), plain.named(name), name);
          assert.deepEqual(index.providing(name), plain.providing(name), name);
        }
        assert.deepEqual([...index.withInstallIf()], [...plain.withInstallIf()]);
      }),
      { numRuns: 500 },
    );
  });

  it('resolves against an index as against the list (property)', () => {
    let installIf = 0;
    let resolved = 0;
    fc.assert(
      fc.property(candidates, requests, (list, reqs) => {
        const want = outcome(reqs, list);
        assert.deepEqual(outcome(reqs, candidateIndex(list)), want);
        assert.deepEqual(outcome(reqs, filteringIndex(list)), want);
        if (typeof want === 'object' && want !== null && 'ids' in want) {
          resolved++;
          if (JSON.stringify(want).includes('install_if')) installIf++;
        }
      }),
      { numRuns: 2000 },
    );
    // Both kinds of outcome are compared, and install_if is among them. (Unseeded, 2,000 runs gave
    // 408-497 resolved and 26-58 with install_if in twelve trials: a bar of 20 failed about one
    // run in forty.)
    assert.ok(resolved > 200 && installIf > 5, `${resolved} resolved, ${installIf} with install_if`);
  });

  it('asks a lazy index only for the names the resolution reaches', () => {
    const c = (name: string, fields: Partial<Candidate> = {}): Candidate => ({
      id: name,
      name,
      version: '1-r0',
      provides: [],
      depends: [],
      conflicts: [],
      installIf: [],
      repoTag: '',
      repoOrder: 0,
      ...fields,
    });
    const list = [
      c('app', { depends: [[{ name: 'lib' }], [{ name: 'mta' }, { name: 'postfix' }]] }),
      c('lib'),
      c('exim', { provides: [{ name: 'mta' }] }),
      c('postfix'),
      c('docs', { installIf: [{ name: 'app' }], depends: [[{ name: 'man' }]] }),
      c('man'),
      c('big', { depends: [[{ name: 'huge' }]] }),
      c('huge'),
    ];
    const { index, asked, calls } = countingIndex(list);
    const { packages } = resolve([{ name: 'app' }, { name: 'big', conflict: true }], index, apkVersionScheme);
    assert.deepEqual(
      packages.map((p) => p.name),
      ['app', 'docs', 'exim', 'lib', 'man'],
    );
    // Not big or huge, nothing of the request that is a conflict, and not postfix: the first
    // alternative, mta, is met.
    assert.deepEqual([...asked.keys()].sort(), ['app', 'lib', 'man', 'mta']);
    assert.ok(calls.installIf > 0);
  });

  it('asks a lazy index only for requested names and dependencies of what it chooses (property)', () => {
    fc.assert(
      fc.property(candidates, requests, (list, reqs) => {
        const { index, asked } = countingIndex(list);
        const got = outcome(reqs, index);
        assert.deepEqual(got, outcome(reqs, list));
        let allowed: Set<string>;
        if (typeof got === 'object' && got !== null && 'ids' in got) {
          const chosen = list.filter((c) => (got.ids as string[]).includes(c.id));
          allowed = new Set([
            ...reqs.filter((r) => !r.conflict).map((r) => r.name),
            ...chosen.flatMap((c) => c.depends.flat().map((r) => r.name)),
          ]);
        } else {
          allowed = reachable(reqs, list);
        }
        for (const name of asked.keys()) assert.ok(allowed.has(name), `asked for ${name}`);
      }),
      { numRuns: 1000 },
    );
  });
});
