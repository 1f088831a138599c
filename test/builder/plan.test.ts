// Planning a build from a lock: each architecture's packages, by the name its ecosystem gives it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inLockEntry, type Lock } from '../../src/builder/lock.ts';
import { LockUnmetError, planBuild } from '../../src/builder/plan.ts';
import { isProvenantError } from '../../src/errors.ts';
import { silentLogger } from '../../src/io/types.ts';
import type { ApkPackageInfo } from '../../src/pkg/apk/apkindex.ts';
import { apkCandidates, apkVersionScheme } from '../../src/pkg/apk/candidates.ts';
import { apkRequest } from '../../src/pkg/apk/source.ts';
import type { LockedPackage, PackageSource } from '../../src/pkg/source.ts';
import { openPackageSource } from '../../src/pkg/sources.ts';

const base = { keyring: [], packages: ['dash'], configPath: 'image.yaml', baseDir: '.', cache: undefined, logger: silentLogger };
const sha = `sha256:${'0'.repeat(64)}`;
const lock: Lock = {
  version: 'v1',
  config: { name: 'image.yaml', checksum: '' },
  contents: {
    keyring: [],
    build_repositories: [],
    runtime_repositories: [],
    repositories: [],
    packages: [{ name: 'dash', version: '0.5.12-2', architecture: 'amd64', url: 'http://127.0.0.1:9/debian/pool/dash.deb', checksum: sha }],
  },
};

describe('planBuild from a lock', () => {
  it("takes the packages the lock names for each architecture, in the ecosystem's spelling", async () => {
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    const plan = await planBuild(source, ['x86_64'], { packages: base.packages, configPath: 'image.yaml', lock });
    assert.deepEqual(
      plan.packages.get('x86_64')?.map((p) => p.name),
      ['dash'],
    );
    assert.deepEqual(plan.indexes, []);
  });

  it('refuses an architecture the lock has no packages for, naming the lock file, for Debian as for apk', async () => {
    for (const [repositories, missing] of [
      [['deb http://127.0.0.1:9/debian bookworm main'], 'arm64 \\(aarch64\\)'],
      [['http://127.0.0.1:9/alpine/main'], '(aarch64|x86_64)'],
    ] as const) {
      const source = await openPackageSource({ ...base, repositories });
      await assert.rejects(
        planBuild(source, ['x86_64', 'aarch64'], { packages: base.packages, configPath: 'image.yaml', lock, lockPath: 'image.lock.json' }),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'USAGE'), String(err));
          assert.equal(err.where, 'image.lock.json');
          assert.match(
            err.message,
            new RegExp(`^image\\.lock\\.json contents\\.packages has no packages for ${missing}: its entries' architecture is only amd64$`),
          );
          return true;
        },
      );
    }
  });

  it('says a lock without packages holds none, and to lock, rather than naming architectures', async () => {
    const source = await openPackageSource({ ...base, repositories: ['http://127.0.0.1:9/alpine/main'] });
    const empty: Lock = { ...lock, contents: { ...lock.contents, packages: [] } };
    await assert.rejects(
      planBuild(source, ['x86_64'], { packages: base.packages, configPath: 'image.yaml', lock: empty, lockPath: 'image.lock.json' }),
      (err: unknown) =>
        isProvenantError(err, 'USAGE') &&
        err.where === 'image.lock.json' &&
        err.message === 'image.lock.json holds no packages (contents.packages is empty)' &&
        err.hint === 'lock this configuration (provenant lock image.yaml -o image.lock.json) to pin its packages',
    );
  });

  it("names the lock file and the architecture its entries spell another way than the source's", async () => {
    // An apk-style lock (x86_64) read for Debian repositories, which spell it amd64.
    const relabelled: Lock = {
      ...lock,
      contents: { ...lock.contents, packages: lock.contents.packages.map((p) => ({ ...p, architecture: 'x86_64' })) },
    };
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    await assert.rejects(
      planBuild(source, ['x86_64'], { packages: base.packages, configPath: 'image.yaml', lock: relabelled, lockPath: 'image.lock.json' }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'USAGE'), String(err));
        assert.equal(err.where, 'image.lock.json');
        assert.equal(
          err.message,
          "image.lock.json contents.packages has no packages for amd64 (x86_64): its entries' architecture is only x86_64",
        );
        assert.match(err.hint ?? '', /its entries name x86_64, which these repositories spell amd64/);
        return true;
      },
    );
  });

  it("names the lock file and the entry of a .deb whose checksum is not a .deb's", async () => {
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    const entry = { ...lock.contents.packages[0]!, checksum: `Q1${'A'.repeat(27)}=` };
    const edited: Lock = { ...lock, contents: { ...lock.contents, packages: [entry] } };
    const err = await source.fetch(entry).then(
      () => assert.fail('fetched'),
      (e: unknown) => inLockEntry(e, edited, 'image.lock.json', entry),
    );
    assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
    assert.equal(err.where, 'image.lock.json');
    assert.equal(
      err.message,
      `image.lock.json contents.packages[0] (dash 0.5.12-2, amd64): http://127.0.0.1:9/debian/pool/dash.deb: the lock's checksum ${entry.checksum} is not the sha256:<hex> of a .deb`,
    );
  });
});

/** An apk source over a list of index entries, with nothing to download but `fetchable`. */
/**
 * Whether a lock naming `app` at `url` passes the check of its URLs against `repository`, with
 * the configuration /cfg/image.yaml read from `baseDir`: the real apk source, whose index is
 * never read (reaching it means the check passed).
 */
async function lockCheck(repository: string, url: string, baseDir: string): Promise<'passed' | 'refused'> {
  const message = await lockCheckError(repository, url, baseDir);
  if (message === '') return 'passed';
  assert.match(message, / is in none of the repositories /);
  return 'refused';
}

/** The message of the check's refusal, '' when it passed (see {@link lockCheck}). */
async function lockCheckError(repository: string, url: string, baseDir: string): Promise<string> {
  const real = await openPackageSource({ ...base, packages: ['app'], configPath: '/cfg/image.yaml', baseDir, repositories: [repository] });
  const passed = new Error('passed');
  const source = new Proxy(real, {
    get: (target, key) => {
      if (key === 'readIndex') return async () => Promise.reject(passed);
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const entry = { name: 'app', version: '1-r0', architecture: 'x86_64', url, checksum: 'Q1x' };
  const locked: Lock = { ...lock, contents: { ...lock.contents, packages: [entry] } };
  const options = { packages: ['app'], configPath: '/cfg/image.yaml', lock: locked, lockPath: 'l.json', checkLock: true };
  const err = await planBuild(source, ['x86_64'], baseDir === '/cfg' ? options : { ...options, baseDir }).then(
    () => assert.fail('planned'),
    (e: unknown) => e,
  );
  if (err === passed) return '';
  assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
  return err.message;
}

function apkSource(infos: readonly ApkPackageInfo[], fetchable: readonly ApkPackageInfo[] = []): PackageSource {
  const { candidates } = apkCandidates(infos, 'http://127.0.0.1:9/repo', '', 0, 'index');
  const entry = (c: { name: string; version: string; id: string }, arch: string): LockedPackage => ({
    name: c.name,
    version: c.version,
    architecture: arch,
    url: `http://127.0.0.1:9/repo/${arch}/${c.name}-${c.version}.apk`,
    checksum: c.id,
  });
  const fetched = (locked: LockedPackage) => {
    const info = fetchable.find((i) => i.name === locked.name && i.version === locked.version);
    if (info === undefined) throw new Error(`${locked.name}-${locked.version} is not fetchable`);
    return { package: info, locked, sha256: '', bodies: [] };
  };
  return {
    ecosystem: 'apk',
    versionScheme: apkVersionScheme,
    archName: (arch: string) => arch,
    request: (text: string, where: string) => apkRequest(text, where),
    readIndex: async () => ({ candidates, files: [] }),
    lockEntry: entry,
    lockSources: (archs: readonly string[]) => ({
      keyring: [],
      repositories: archs.map((a) => ({ name: `repo/${a}`, url: `http://127.0.0.1:9/repo/${a}/APKINDEX.tar.gz`, architecture: a })),
    }),
    fetch: async (locked: LockedPackage) => fetched(locked),
    fetchedCandidate: (f: { package: unknown }) => apkCandidates([f.package as ApkPackageInfo], '', '', 0, 'fetched').candidates[0]!,
  } as unknown as PackageSource;
}

function apkInfo(name: string, version: string, fields: Partial<ApkPackageInfo> = {}): ApkPackageInfo {
  return {
    ...{ name, version, arch: 'x86_64', checksum: `Q1${name}-${version}`, size: 1, installedSize: 1, description: '', url: '' },
    ...{ license: '', origin: name, maintainer: '', buildTime: 0, commit: '', depends: [], provides: [], installIf: [], replaces: [] },
    ...{ providerPriority: undefined, replacesPriority: undefined, extra: {} },
    ...fields,
  };
}

describe('planBuild checks that a lock can be installed as locked', () => {
  const infos = [
    apkInfo('app', '1.0-r0', { depends: ['libfoo>=2', 'cmd:sh'] }),
    apkInfo('app', '2.0-r0', { depends: ['libfoo>=2', 'cmd:sh'] }),
    apkInfo('libfoo', '1.0-r0'),
    apkInfo('libfoo', '2.0-r0'),
    apkInfo('busybox', '1-r0', { provides: ['cmd:sh=1-r0', 'foo=1-r0'] }),
    apkInfo('toybox', '1-r0', { provides: ['cmd:sh=1-r0'], depends: ['!busybox'] }),
  ];
  const source = apkSource(infos);
  const at = (name: string, version: string, arch = 'x86_64') =>
    source.lockEntry({ ...infos.find((i) => i.name === name && i.version === version)!, id: `Q1${name}-${version}` } as never, arch);
  const lockOf = (entries: LockedPackage[]): Lock => ({ ...lock, contents: { ...lock.contents, packages: entries } });
  const plan = (packages: string[], entries: LockedPackage[], archs = ['x86_64']) =>
    planBuild(source, archs, { packages, configPath: 'image.yaml', lock: lockOf(entries), lockPath: 'image.lock.json', checkLock: true });
  const inconsistent = (pattern: RegExp) => (err: unknown) =>
    isProvenantError(err, 'INVALID_CONFIG') && err.where === 'image.lock.json' && pattern.test(err.message);

  it('refuses a locked version the index lists as another file, naming the lock and both checksums', async () => {
    const app = at('app', '2.0-r0');
    const edited = { ...app, checksum: 'Q1ZZZZZZZZZZZZZZZZZZZZZZZZZZZ=' };
    await assert.rejects(
      plan(['app'], [edited, at('libfoo', '2.0-r0'), at('busybox', '1-r0')]),
      (err: unknown) =>
        isProvenantError(err, 'DIGEST_MISMATCH') &&
        err.where === 'image.lock.json' &&
        new RegExp(
          `^image\\.lock\\.json names app 2\\.0-r0 \\(x86_64\\) with checksum Q1Z+=, and the verified index lists that version with ${app.checksum.replace(/[+/=]/g, '\\$&')}$`,
        ).test(err.message),
    );
  });

  it('takes a lock whose dependencies are all locked', async () => {
    const p = await plan(['app'], [at('app', '2.0-r0'), at('libfoo', '2.0-r0'), at('busybox', '1-r0')]);
    assert.deepEqual(
      p.packages.get('x86_64')?.map((x) => x.name),
      ['app', 'libfoo', 'busybox'],
    );
  });

  it('refuses a lock missing a dependency, or holding one at a version that does not meet it', async () => {
    await assert.rejects(
      plan(['app'], [at('app', '2.0-r0'), at('busybox', '1-r0')]),
      inconsistent(
        /^image\.lock\.json cannot be installed as locked: app-2\.0-r0 \(x86_64\) needs libfoo>=2, which no locked package meets$/,
      ),
    );
    await assert.rejects(
      plan(['app', 'libfoo'], [at('app', '2.0-r0'), at('libfoo', '1.0-r0'), at('busybox', '1-r0')]),
      inconsistent(/app-2\.0-r0 \(x86_64\) needs libfoo>=2/),
    );
  });

  it('refuses a conflict between locked packages, and a locked provider of what the request refuses', async () => {
    await assert.rejects(
      plan(['app', 'toybox'], [at('app', '2.0-r0'), at('libfoo', '2.0-r0'), at('busybox', '1-r0'), at('toybox', '1-r0')]),
      inconsistent(/toybox-1-r0 \(x86_64\) conflicts with busybox-1-r0: !busybox/),
    );
    await assert.rejects(
      plan(['app', '!foo'], [at('app', '2.0-r0'), at('libfoo', '2.0-r0'), at('busybox', '1-r0')]),
      inconsistent(/busybox-1-r0 \(x86_64\) is refused by !foo in contents\.packages/),
    );
  });

  it("refuses a name locked at different versions on different architectures, unless the lock is a rebuild's", async () => {
    const arm = (e: LockedPackage) => ({ ...e, architecture: 'aarch64', url: e.url.replace('/x86_64/', '/aarch64/') });
    const entries = [
      at('app', '1.0-r0'),
      at('libfoo', '2.0-r0'),
      at('busybox', '1-r0'),
      arm(at('app', '2.0-r0')),
      arm(at('libfoo', '2.0-r0')),
      arm(at('busybox', '1-r0')),
    ];
    await assert.rejects(
      plan(['app'], entries, ['x86_64', 'aarch64']),
      inconsistent(/it holds app at 1\.0-r0 on x86_64, 2\.0-r0 on aarch64$/),
    );
    // A lock that is not checked (one that provenance vouches for) is the original build's: taken as it is.
    const rebuilt = await planBuild(source, ['x86_64', 'aarch64'], { packages: ['app'], configPath: 'image.yaml', lock: lockOf(entries) });
    assert.deepEqual(
      ['x86_64', 'aarch64'].map((a) => rebuilt.packages.get(a)?.find((x) => x.name === 'app')?.version),
      ['1.0-r0', '2.0-r0'],
    );
  });

  it("refuses a locked package whose URL is outside the configuration's repositories, before fetching anything, naming the entry", async () => {
    // A source whose fetch and index would fail the test if reached.
    const unreachable = {
      ...source,
      readIndex: async () => assert.fail('an index was read'),
      fetch: async () => assert.fail('a package was fetched'),
    } as unknown as PackageSource;
    for (const url of [
      '/tmp/elsewhere/app-2.0-r0.apk',
      'file:///dev/zero',
      'http://127.0.0.1:9/other/x86_64/app-2.0-r0.apk',
      'http://127.0.0.1:9/repo/x86_64/../../other/app-2.0-r0.apk',
      'http://127.0.0.1:9/repo/aarch64/app-2.0-r0.apk',
      'http://127.0.0.2:9/repo/x86_64/app-2.0-r0.apk',
    ]) {
      const entries = [at('libfoo', '2.0-r0'), { ...at('app', '2.0-r0'), url }, at('busybox', '1-r0')];
      await assert.rejects(
        planBuild(unreachable, ['x86_64'], {
          packages: ['app'],
          configPath: 'image.yaml',
          lock: lockOf(entries),
          lockPath: 'image.lock.json',
          checkLock: true,
        }),
        (err: unknown) =>
          isProvenantError(err, 'INVALID_CONFIG') &&
          err.where === 'image.lock.json' &&
          err.message.startsWith('image.lock.json contents.packages[1] (app 2.0-r0, x86_64): its url ') &&
          err.message.endsWith(' is in none of the repositories image.yaml reads for x86_64'),
        url,
      );
    }
    // The repository's own URL spelled with a dot segment is the same place.
    const same = [
      at('libfoo', '2.0-r0'),
      { ...at('app', '2.0-r0'), url: 'http://127.0.0.1:9/repo/./x86_64/app-2.0-r0.apk' },
      at('busybox', '1-r0'),
    ];
    await planBuild(source, ['x86_64'], { packages: ['app'], configPath: 'image.yaml', lock: lockOf(same), checkLock: true });
  });

  it('takes the lock `provenant lock` writes for a repository spelled with a trailing / or with credentials', async () => {
    for (const repository of ['http://127.0.0.1:9/repo/', 'http://u:secret@127.0.0.1:9/repo', '@t http://127.0.0.1:9/repo//']) {
      const real = await openPackageSource({ ...base, packages: ['app'], repositories: [repository] });
      const entry = real.lockEntry(
        { name: 'app', version: '1-r0', repository: repository.replace('@t ', ''), info: { checksum: 'Q1x', size: 1 } } as never,
        'x86_64',
      );
      const bare = { ...entry, url: entry.url.replace('u:secret@', '') };
      for (const e of [entry, bare]) assert.equal(await lockCheck(repository, e.url, '.'), 'passed', `${repository} ${e.url}`);
      assert.doesNotMatch(JSON.stringify(real.lockSources(['x86_64'])), /repo\/\//);
    }
    // Credentials are never compared, nor said.
    const refused = await lockCheckError('http://u:secret@127.0.0.1:9/repo', 'http://v:other@127.0.0.1:9/repo2/x86_64/app.apk', '.');
    assert.doesNotMatch(refused, /secret|other@/);
  });

  it("reads a lock's local URLs against the configuration's folder, as the fetch does, and refuses what is outside the repository", async () => {
    const cwd = process.cwd();
    for (const [repository, url, expected] of [
      ['./repo', '/cfg/repo/x86_64/app-1-r0.apk', 'passed'],
      ['./repo', 'repo/x86_64/app-1-r0.apk', 'passed'],
      ['./repo', 'file:/cfg/repo/x86_64/app-1-r0.apk', 'passed'],
      ['./repo', 'file:///cfg/repo/x86_64/app-1-r0.apk', 'passed'],
      ['/cfg/repo', 'repo/x86_64/app-1-r0.apk', 'passed'],
      ['./repo', `${cwd}/repo/x86_64/app-1-r0.apk`, 'refused'],
      ['./repo', `file:${cwd}/repo/x86_64/app-1-r0.apk`, 'refused'],
      ['./repo', '/cfg/repo2/x86_64/app-1-r0.apk', 'refused'],
      ['./repo', 'repo/x86_64/../../x/app-1-r0.apk', 'refused'],
      ['./repo', 'file:///cfg/repo/x86_64/%2e%2e/%2e%2e/x/app-1-r0.apk', 'refused'],
      ['./repo', 'file:///cfg/repo/x86_64/..%2f..%2fx/app-1-r0.apk', 'refused'],
    ] as const) {
      assert.equal(await lockCheck(repository, url, '/cfg'), expected, `${repository} ${url}`);
    }
  });

  it("reads an apk lock's entries in apko's other spellings of the architecture (amd64), as apko does", async () => {
    const entries = [{ ...at('app', '2.0-r0'), architecture: 'amd64' }, at('libfoo', '2.0-r0'), at('busybox', '1-r0')];
    const planned = await plan(['app'], entries);
    assert.deepEqual(
      planned.packages.get('x86_64')?.map((p) => `${p.name} ${p.architecture}`),
      ['app x86_64', 'libfoo x86_64', 'busybox x86_64'],
    );
  });

  it('checks a package no index lists by what its fetched file says it needs', async () => {
    const unlisted = apkInfo('app', '3.0-r0', { depends: ['libfoo>=2', 'so:libbar.so.1'] });
    const withFetch = apkSource(infos, [unlisted]);
    const entry = withFetch.lockEntry({ ...unlisted, id: 'Q1app-3.0-r0' } as never, 'x86_64');
    await assert.rejects(
      planBuild(withFetch, ['x86_64'], {
        packages: ['app'],
        configPath: 'image.yaml',
        lock: lockOf([entry, at('libfoo', '2.0-r0')]),
        lockPath: 'image.lock.json',
        checkLock: true,
      }),
      inconsistent(/app-3\.0-r0 \(x86_64\) needs so:libbar\.so\.1, which no locked package meets/),
    );
  });

  it('names the lock file and the entry of a package no index lists that the source cannot check', async () => {
    const unlisted = apkInfo('app', '3.0-r0', { depends: ['libfoo>=2'] });
    // A source that fetches such a package but cannot tell what it needs.
    const blind = { ...apkSource(infos, [unlisted]), fetchedCandidate: undefined } as unknown as PackageSource;
    const entry = blind.lockEntry({ ...unlisted, id: 'Q1app-3.0-r0' } as never, 'x86_64');
    await assert.rejects(
      planBuild(blind, ['x86_64'], {
        packages: ['app'],
        configPath: 'image.yaml',
        lock: lockOf([at('libfoo', '2.0-r0'), entry]),
        lockPath: 'image.lock.json',
        checkLock: true,
      }),
      (err: unknown) =>
        isProvenantError(err, 'UNTRUSTED_KEY') &&
        err.where === 'image.lock.json' &&
        err.message ===
          'image.lock.json contents.packages[1] names app-3.0-r0 (x86_64), which no verified index lists: http://127.0.0.1:9/repo/x86_64/app-3.0-r0.apk',
    );
  });
});

describe('planBuild of Debian packages', () => {
  it('refuses an entry naming a foreign architecture at its line, on the architecture it is foreign to, before any index is fetched', async () => {
    // Nothing answers at the repository's port: reaching for an index would fail otherwise.
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    const locations = new Map([
      ['contents.packages[0]', { file: 'image.yaml', line: 3, column: 7 }],
      ['contents.packages[1]', { file: 'image.yaml', line: 4, column: 7 }],
    ]);
    await assert.rejects(
      planBuild(source, ['aarch64'], { packages: ['dash', 'libc6:amd64'], configPath: 'image.yaml', locations }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
        assert.equal(err.where, 'image.yaml:4:7');
        assert.match(err.message, /"libc6:amd64" asks for amd64's package in an image of arm64/);
        return true;
      },
    );
    // From a lock too, where the entries are checked against the lock's packages.
    await assert.rejects(
      planBuild(source, ['x86_64'], { packages: ['dash:i386'], configPath: 'image.yaml', lock, checkLock: true }),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && err.where === 'image.yaml' && /i386's package/.test(err.message),
    );
  });
});

describe('planBuild of a lock that vouches for itself (a rebuild from a provenance)', () => {
  const entryOf = (i: ApkPackageInfo): LockedPackage => ({
    name: i.name,
    version: i.version,
    architecture: 'x86_64',
    url: `http://127.0.0.1:9/old/${i.name}-${i.version}.apk`,
    checksum: i.checksum,
  });
  const busybox = apkInfo('busybox', '1.36-r0', { provides: ['cmd:sh=1.36-r0'] });
  const tool = apkInfo('tool', '1-r0', { depends: ['busybox'] });
  const vouched: Lock = { ...lock, contents: { ...lock.contents, packages: [busybox, tool].map(entryOf) } };
  const plan = (source: PackageSource, packages: string[]) =>
    planBuild(source, ['x86_64'], { packages, configPath: 'image.yaml', lock: vouched, lockVouches: true });

  it('meets a request by what a locked file provides, fetching the files once for the build to install', async () => {
    // No index lists them (the repository dropped them): only their files can tell.
    const source = apkSource([], [busybox, tool]);
    let fetches = 0;
    const counting = {
      ...source,
      fetch: (p: LockedPackage) => {
        fetches++;
        return source.fetch(p);
      },
    } as PackageSource;
    const planned = await plan(counting, ['tool', 'cmd:sh']);
    assert.equal(fetches, 2);
    assert.deepEqual(
      [...planned.fetched.keys()].map((p) => p.name),
      ['busybox', 'tool'],
    );
    // Met by names alone, no file is read.
    assert.equal((await plan(counting, ['tool', 'busybox'])).fetched.size, 0);
    assert.equal(fetches, 2);
  });

  it('refuses it, as a checked lock, when no locked package meets a request, naming each', async () => {
    const source = apkSource([], [busybox, tool]);
    await assert.rejects(plan(source, ['tool', 'cmd:bash', '!busybox', 'curl>2']), (err: unknown) => {
      assert.ok(err instanceof LockUnmetError, String(err));
      assert.deepEqual(err.unmet, ['cmd:bash (x86_64)', '!busybox (x86_64)', 'curl>2 (x86_64)']);
      assert.equal(
        err.message,
        'the lock does not meet what image.yaml asks for: no locked package meets cmd:bash (x86_64), !busybox (x86_64), curl>2 (x86_64)',
      );
      return true;
    });
    // Unless the lock does not vouch for itself: then it is not checked here at all.
    const unchecked = await planBuild(source, ['x86_64'], { packages: ['curl'], configPath: 'image.yaml', lock: vouched });
    assert.deepEqual(
      unchecked.packages.get('x86_64')?.map((p) => p.name),
      ['busybox', 'tool'],
    );
  });

  it('leaves a request no name meets unjudged where the source cannot say what a file provides (Debian)', async () => {
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    // Nothing is fetched (nothing listens on port 9): dash is met by its name, sh left unjudged.
    const planned = await planBuild(source, ['x86_64'], { packages: ['dash', 'sh'], configPath: 'image.yaml', lock, lockVouches: true });
    assert.equal(planned.fetched.size, 0);
  });
});
