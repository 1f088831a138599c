// A checked lock holds only what resolving its configuration could have chosen: every locked
// package is reached from the requests through what locked packages need, and a package from a
// tagged repository only where a request (or a package on the way) named the tag. A lock is a file
// anyone may edit in a pull request; before, an edited lock could take a package from an @tag
// repository for an untagged request, or add packages nothing asked for.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildImage } from '../../src/builder/build.ts';
import type { Lock } from '../../src/builder/lock.ts';
import { fetchedListing, lockReach } from '../../src/builder/lock-reach.ts';
import { isProvenantError } from '../../src/errors.ts';
import { readApkIndex } from '../../src/pkg/apk/apkindex.ts';
import { type ApkCandidate, apkCandidates, apkVersionScheme } from '../../src/pkg/apk/candidates.ts';
import { ApkKeyring } from '../../src/pkg/apk/signature.ts';
import { apkRequest } from '../../src/pkg/apk/source.ts';
import { debVersionScheme } from '../../src/pkg/deb/candidates.ts';
import { type Candidate, candidateIndex, type Request, resolve } from '../../src/pkg/resolve/resolve.ts';
import type { LockedPackage } from '../../src/pkg/source.ts';
import { fixture, fixturesMissing, readFixture } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  EPOCH,
  loadWrittenConfig,
  packages,
  repositoryKey,
  type StaticServer,
  serveFolder,
  writeConfig,
  writeRepository,
} from '../reproduce/helpers.ts';

/** A candidate as the resolver sees it, Debian-like unless told. */
function cand(name: string, version: string, fields: Partial<Candidate> = {}): Candidate {
  return {
    id: `${name}_${version}_${fields.repoTag ?? ''}`,
    name,
    version,
    provides: [],
    depends: [],
    conflicts: [],
    installIf: [],
    repoTag: '',
    repoOrder: 0,
    ...fields,
  };
}

/** The lock entry of a candidate: its id stands for the checksum. */
const entry = (c: Candidate): LockedPackage => ({ name: c.name, version: c.version, architecture: 'amd64', url: '', checksum: c.id });

/**
 * lockReach over `locked` (candidates the index lists, or entries no index lists), from `requests`;
 * the names of what it refuses.
 */
function check(
  requests: readonly Request[],
  locked: readonly (Candidate | LockedPackage)[],
  all: readonly Candidate[],
  scheme = debVersionScheme,
) {
  const entries = locked.map((x): { p: LockedPackage; same: Candidate[] } =>
    'checksum' in x ? { p: x, same: [] } : { p: entry(x), same: all.filter((c) => c.id === x.id) },
  );
  const listed = new Map(entries.filter((e) => e.same.length > 0).map((e) => [e.p, e.same]));
  const { wrongTag, unreached } = lockReach(
    requests,
    entries.map((e) => e.p),
    listed,
    candidateIndex(all),
    scheme,
  );
  return {
    wrongTag: [...wrongTag].map(([p, tags]) => `${p.name}-${p.version} @${tags.join(',')}`),
    unreached: unreached.map((p) => `${p.name}-${p.version}`),
  };
}

const clean = { wrongTag: [], unreached: [] };
const req = (name: string, tag?: string): Request => (tag === undefined ? { name } : { name, tag });

describe('lockReach', () => {
  it('reaches the alternative a Debian `a | b` took, and the provider of a virtual package', () => {
    const app = cand('app', '1', { depends: [[req('default-mta'), req('mail-transport-agent')], [req('awk')]] });
    const postfix = cand('postfix', '3', { provides: [{ name: 'mail-transport-agent' }] });
    const mawk = cand('mawk', '1.3', { provides: [{ name: 'awk' }] });
    const gawk = cand('gawk', '5', { provides: [{ name: 'awk' }] });
    const all = [app, postfix, mawk, gawk, cand('default-mta', '1')];
    assert.deepEqual(check([req('app')], [app, postfix, mawk], all), clean);
    assert.deepEqual(check([req('app')], [app, cand('default-mta', '1'), gawk], all), clean);
    // A package that no request and no locked package needs is refused, however well signed.
    assert.deepEqual(check([req('mawk')], [app, mawk], all), { wrongTag: [], unreached: ['app-1'] });
  });

  it("follows apk's so: and cmd: provides, versioned ones only for versioned requirements, and install_if", () => {
    const app = cand('app', '1.0-r0', {
      depends: [[req('so:libz.so.1')], [{ name: 'cmd:sh', constraint: { op: '>=', version: '1.30' } }]],
    });
    const zlib = cand('zlib', '1.3-r0', { provides: [{ name: 'so:libz.so.1', version: '1' }] });
    const busybox = cand('busybox', '1.36-r0', { provides: [{ name: 'cmd:sh', version: '1.36-r0' }] });
    const oldsh = cand('oldsh', '1-r0', { provides: [{ name: 'cmd:sh' }] });
    const doc = cand('app-doc', '1.0-r0', { installIf: [req('app'), req('docs')] });
    const docs = cand('docs', '1-r0');
    const all = [app, zlib, busybox, oldsh, doc, docs];
    assert.deepEqual(check([req('app')], [app, zlib, busybox], all, apkVersionScheme), clean);
    // An unversioned provide does not meet `cmd:sh>=1.30`: nothing else needs oldsh.
    assert.deepEqual(check([req('app')], [app, zlib, busybox, oldsh], all, apkVersionScheme).unreached, ['oldsh-1-r0']);
    // install_if: app-doc comes with app and docs, and not with app alone.
    assert.deepEqual(check([req('app'), req('docs')], [app, zlib, busybox, doc, docs], all, apkVersionScheme), clean);
    assert.deepEqual(check([req('app')], [app, zlib, busybox, doc], all, apkVersionScheme).unreached, ['app-doc-1.0-r0']);
  });

  it('reads a !name install_if condition as met while no locked package meets it', () => {
    const foo = cand('foo', '1-r0');
    const bar = cand('bar', '1-r0');
    const extra = cand('foo-extra', '1-r0', { installIf: [req('foo'), { name: 'bar', conflict: true }] });
    const all = [foo, bar, extra];
    assert.deepEqual(check([req('foo')], [foo, extra], all, apkVersionScheme), clean);
    assert.deepEqual(check([req('foo'), req('bar')], [foo, bar, extra], all, apkVersionScheme).unreached, ['foo-extra-1-r0']);
  });

  it('takes a tagged repository’s package where a request names the tag, and what it needs from there', () => {
    const main = cand('data', '2', { depends: [[req('base')]] });
    const edge = cand('data', '9', { repoTag: 'edge', repoOrder: 1, depends: [[req('edgelib')]] });
    const edgelib = cand('edgelib', '1', { repoTag: 'edge', repoOrder: 1 });
    const base = cand('base', '1');
    const all = [main, edge, edgelib, base];
    assert.deepEqual(check([req('data', 'edge')], [edge, edgelib], all, apkVersionScheme), clean);
    assert.deepEqual(check([req('data')], [main, base], all, apkVersionScheme), clean);
    // Asked for untagged, the @edge one is refused, and what it needs is needed by nothing.
    assert.deepEqual(check([req('data')], [edge, edgelib], all, apkVersionScheme), {
      wrongTag: ['data-9 @edge'],
      unreached: ['edgelib-1'],
    });
    // The same package in an untagged repository as well brings no tag along.
    const mirrored = { ...edgelib, repoTag: '', repoOrder: 0 };
    assert.deepEqual(check([req('edgelib')], [edgelib], [...all, { ...mirrored, id: edgelib.id }], apkVersionScheme), clean);
  });

  it('knows a package no index lists by its name, with the dependencies and tags of the versions the index has', () => {
    const foo = cand('foo', '1.1', { depends: [[req('bar')]] });
    const bar = cand('bar', '1');
    const edgeOnly = cand('extra', '2', { repoTag: 'edge', repoOrder: 1 });
    const all = [foo, bar, edgeOnly];
    const old = (name: string, version: string): LockedPackage => ({
      name,
      version,
      architecture: 'amd64',
      url: '',
      checksum: `old-${name}`,
    });
    assert.deepEqual(check([req('foo')], [old('foo', '1.0'), bar], all), clean);
    // With a package known by name only, nothing is refused as unreached (what it needs is known
    // once it is fetched); a version the request does not allow is the requests' check's to refuse.
    assert.deepEqual(check([{ name: 'foo', constraint: { op: '>=', version: '1.1' } }], [old('foo', '1.0'), bar], all), clean);
    // A name only a tagged repository has keeps its tag.
    assert.deepEqual(check([req('extra')], [old('extra', '1')], all).wrongTag, ['extra-1 @edge']);
    // A name no repository has any more: met by its name alone.
    assert.deepEqual(check([req('gone')], [old('gone', '1')], all), clean);
  });

  it('refuses nothing as unreached in a lock an index update left behind (a cold review: each was refused)', () => {
    const old = (name: string, version: string): LockedPackage => ({
      name,
      version,
      architecture: 'x86_64',
      url: '',
      checksum: `old-${name}`,
    });
    // app-1.0 needed libold; the index's app-1.1 does not.
    const libold = cand('libold', '1-r0', { provides: [{ name: 'so:libold.so.1', version: '1' }] });
    assert.deepEqual(check([req('app')], [old('app', '1.0-r0'), libold], [cand('app', '1.1-r0'), libold], apkVersionScheme), clean);
    // A library whose name left the index, needed through so:.
    const app = cand('app', '1.0-r0', { depends: [[req('so:libcrypto.so.1.1')]] });
    assert.deepEqual(check([req('app')], [app, old('libcrypto1.1', '1.1.1w-r0')], [app], apkVersionScheme), clean);
    // A package install_if brought in, its locked version no longer listed.
    const docs = cand('docs', '1-r0');
    const doc = cand('app-doc', '1.1-r0', { installIf: [req('app'), req('docs')] });
    assert.deepEqual(
      check(
        [req('app'), req('docs')],
        [cand('app', '1.0-r0'), docs, old('app-doc', '1.0-r0')],
        [cand('app', '1.0-r0'), docs, doc],
        apkVersionScheme,
      ),
      clean,
    );
    // The tag check holds with such a package in the lock.
    const edge = cand('extra', '2', { repoTag: 'edge', repoOrder: 1 });
    assert.deepEqual(check([req('extra')], [old('extra', '1')], [edge], apkVersionScheme).wrongTag, ['extra-1 @edge']);
  });

  it('walks a package no index lists, once fetched, with what its own file needs, and refuses what nothing reaches', () => {
    const old: LockedPackage = { name: 'app', version: '1.0-r0', architecture: 'x86_64', url: '', checksum: 'old-app' };
    // Its .PKGINFO: it needs libold, which the index's app-1.1-r0 does not.
    const own = cand('app', '1.0-r0', { id: 'old-app', depends: [[req('libold')]] });
    const libold = cand('libold', '1-r0');
    const extra = cand('extra', '1-r0');
    const index = candidateIndex([cand('app', '1.1-r0'), libold, extra]);
    const walk = (locked: readonly LockedPackage[], fetched: boolean) => {
      const listed = new Map<LockedPackage, Candidate[]>(locked.filter((p) => p !== old).map((p) => [p, [...index.named(p.name)]]));
      if (fetched) listed.set(old, fetchedListing(own, index));
      const { wrongTag, unreached } = lockReach([req('app')], locked, listed, index, apkVersionScheme);
      return { wrongTag: [...wrongTag.keys()].map((p) => p.name), unreached: unreached.map((p) => p.name) };
    };
    const [liboldEntry, extraEntry] = [entry(libold), entry(extra)];
    // Before it is fetched, an estimate: nothing is refused as unreached, extra included.
    assert.deepEqual(walk([old, liboldEntry, extraEntry], false), clean);
    // Fetched: libold is what it needs, extra is needed by nothing.
    assert.deepEqual(walk([old, liboldEntry], true), clean);
    assert.deepEqual(walk([old, liboldEntry, extraEntry], true), { wrongTag: [], unreached: ['extra'] });
  });

  it('gives a fetched package no index lists the tags of the repositories that have its name', () => {
    const own = cand('extra', '1', { depends: [[req('edgelib')]] });
    const tags = (all: readonly Candidate[]) => fetchedListing(own, candidateIndex(all)).map((c) => [c.repoTag, c.repoOrder, c.depends]);
    const edge = cand('extra', '2', { repoTag: 'edge', repoOrder: 1 });
    assert.deepEqual(tags([edge, cand('extra', '3', { repoTag: 'edge', repoOrder: 1 })]), [['edge', 1, own.depends]]);
    assert.deepEqual(tags([edge, cand('extra', '2', { repoOrder: 0 })]), [
      ['edge', 1, own.depends],
      ['', 0, own.depends],
    ]);
    // A name no repository has any more: untagged.
    assert.deepEqual(tags([cand('other', '1')]), [['', 0, own.depends]]);
    // From @edge alone, an untagged request does not reach it, and so not what it needs.
    const old: LockedPackage = { name: 'extra', version: '1', architecture: 'x86_64', url: '', checksum: own.id };
    const edgelib = cand('edgelib', '1', { repoTag: 'edge', repoOrder: 1 });
    const index = candidateIndex([edge, edgelib]);
    const listed = new Map<LockedPackage, Candidate[]>([
      [old, fetchedListing(own, index)],
      [entry(edgelib), [edgelib]],
    ]);
    const reach = lockReach([req('extra')], [...listed.keys()], listed, index, apkVersionScheme);
    assert.deepEqual([...reach.wrongTag.values()], [['edge']]);
    assert.deepEqual(
      reach.unreached.map((p) => p.name),
      ['edgelib'],
    );
    // Asked for with its tag, both are reached.
    assert.deepEqual(lockReach([req('extra', 'edge')], [...listed.keys()], listed, index, apkVersionScheme).unreached, []);
  });
});

describe('lockReach on what the resolver chose from the real Alpine indexes', { skip: fixturesMissing }, () => {
  let candidates: ApkCandidate[];
  before(async () => {
    const keyring = new ApkKeyring();
    for (const f of readdirSync(fixture('apk'))) if (f.endsWith('.rsa.pub')) keyring.add(f, readFileSync(fixture('apk', f), 'utf8'));
    const file = 'alpine-v3.16-main-x86_64.APKINDEX.tar.gz';
    const index = await readApkIndex(await readFixture('apk', file), { keyring, where: file });
    candidates = apkCandidates(index.packages, 'main', '', 0, file).candidates;
  });

  /** The resolver's closure of `requests`, as a lock's entries with their candidates. */
  const closure = (requests: readonly Request[]) => resolve(requests, candidates, apkVersionScheme).packages;

  it('reaches every package of a closure, through so:, cmd: and pc: provides and install_if', () => {
    const requests = ['alpine-base', 'curl', 'openssh', 'cmd:bash', 'pc:zlib'].map((r) => apkRequest(r));
    const chosen = closure(requests);
    // The closure has packages only a provide or install_if brings in.
    assert.ok(chosen.some((c) => c.installIf.length > 0));
    assert.deepEqual(check(requests, chosen, candidates, apkVersionScheme), clean);
    // Without openssh, what only it needs is refused.
    const without = check(
      requests.filter((r) => r.name !== 'openssh'),
      chosen,
      candidates,
      apkVersionScheme,
    );
    const openssh = chosen.find((c) => c.name === 'openssh');
    assert.ok(openssh);
    assert.ok(without.unreached.includes(`openssh-${openssh.version}`), without.unreached.join(' '));
  });

  it('finds nothing to refuse in any closure the resolver makes', () => {
    const names = [...new Set(candidates.map((c) => c.name))].sort();
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: 4 }), (picked) => {
        const requests = picked.map((r) => apkRequest(r));
        let chosen: ApkCandidate[];
        try {
          chosen = closure(requests);
        } catch (err) {
          if (isProvenantError(err, 'UNRESOLVABLE', 'NOT_FOUND')) return;
          throw err;
        }
        assert.deepEqual(check(requests, chosen, candidates, apkVersionScheme), clean, picked.join(' '));
      }),
      { numRuns: 60 },
    );
  });
});

const tempDir = useTempDir('lock-reach');

describe('a build from a lock with packages its configuration does not lead to', () => {
  let root: string;
  const servers: StaticServer[] = [];
  let text: string;
  const key = repositoryKey();
  /** A configuration beside the test's one, with `list` as its packages. */
  const variant = async (name: string, list: string): Promise<string> => {
    const path = join(root, 'cfg', 'app', name);
    await writeFile(path, text.replace('packages: [base, data, tool]', `packages: [${list}]`));
    return path;
  };
  const lockOf = async (path: string): Promise<Lock> =>
    (await buildImage({ config: await loadWrittenConfig(path), configPath: path, archs: ['x86_64'], lockOnly: true })).lock;
  const build = async (path: string, lock: Lock) =>
    buildImage({
      config: await loadWrittenConfig(path),
      configPath: path,
      lock,
      lockPath: 'edited.lock.json',
      archs: ['x86_64'],
      sourceDateEpoch: EPOCH,
    });
  /** `lock` with the entries of `from` named in `names` put in (replacing those of the same name). */
  const splice = (lock: Lock, from: Lock, names: readonly string[]): Lock => {
    const out = structuredClone(lock);
    for (const name of names) {
      const e = from.contents.packages.find((p) => p.name === name);
      assert.ok(e, name);
      out.contents.packages = [...out.contents.packages.filter((p) => p.name !== name), e];
    }
    return out;
  };
  const refused = (pattern: RegExp) => (err: unknown) => {
    assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
    assert.equal(err.where, 'edited.lock.json');
    assert.match(err.message, pattern);
    assert.match(err.hint ?? '', /provenant lock .* -o edited\.lock\.json/);
    return true;
  };

  before(async () => {
    root = await tempDir();
    const utf8 = new TextEncoder();
    const extra = (arch: string) => ({
      name: 'extra',
      version: '1.0-r0',
      arch,
      license: 'MIT',
      files: [{ path: 'etc/extra', type: 'file' as const, body: utf8.encode('x\n') }],
    });
    // main: base, data, tool, and extra that nothing needs. @edge: a newer data that needs edgelib.
    await writeRepository(join(root, 'main'), key, (arch) => [...packages(arch), extra(arch)]);
    await writeRepository(join(root, 'edge'), key, (arch) => [
      ...packages(arch)
        .filter((p) => p.name === 'data')
        .map((p) => ({ ...p, version: '9.9-r0', depends: ['base', 'edgelib'] })),
      {
        name: 'edgelib',
        version: '1.0-r0',
        arch,
        license: 'MIT',
        files: [{ path: 'usr/lib/edgelib', type: 'file' as const, body: utf8.encode('e\n') }],
      },
    ]);
    servers.push(await serveFolder(join(root, 'main')), await serveFolder(join(root, 'edge')));
    const [main, edge] = servers.map((s) => `${s.url}/repo`);
    const configPath = await writeConfig(root, key, main as string);
    text = (await readFile(configPath, 'utf8')).replace(`repositories: [${main}]`, `repositories: [${main}, "@edge ${edge}"]`);
  });
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('builds from the lock of a configuration that asks for data@edge, with what data needs from @edge', async () => {
    const path = await variant('edge.yaml', 'base, data@edge, tool');
    const result = await build(path, await lockOf(path));
    assert.deepEqual(result.images[0]?.packages.map((p) => `${p.name}-${p.version}`).sort(), [
      'base-1.0-r0',
      'data-9.9-r0',
      'edgelib-1.0-r0',
      'tool-0.9-r1',
    ]);
  });

  it('refuses a lock that takes a package from @edge for a request that does not name the tag', async () => {
    const path = await variant('plain.yaml', 'base, data, tool');
    const edited = splice(await lockOf(path), await lockOf(await variant('edge2.yaml', 'base, data@edge, tool')), ['data', 'edgelib']);
    await assert.rejects(
      build(path, edited),
      refused(
        /^edited\.lock\.json holds more than .*plain\.yaml asks for: it takes data-9\.9-r0 \(x86_64\) from @edge, a tagged repository .*; it holds edgelib-1\.0-r0 \(x86_64\), which no request and no locked package needs$/,
      ),
    );
  });

  it('refuses a lock that adds a package nothing needs, from a trusted untagged repository', async () => {
    const path = await variant('plain2.yaml', 'base, data, tool');
    const edited = splice(await lockOf(path), await lockOf(await variant('extra.yaml', 'base, extra')), ['extra']);
    await assert.rejects(
      build(path, edited),
      refused(/: it holds extra-1\.0-r0 \(x86_64\), which no request and no locked package needs$/),
    );
  });

  describe('whose repository dropped a locked version since', () => {
    /** A configuration asking for `app` (and `more`) from the repository that dropped app-1.0-r0. */
    let path: string;
    /** Made while the repository listed app-1.0-r0: it, libold (which only it needs) and base. */
    let lock: Lock;
    const utf8 = new TextEncoder();
    const spec = (arch: string, name: string, version: string, depends: string[] = []) => ({
      name,
      version,
      arch,
      license: 'MIT',
      depends,
      files: [{ path: `usr/share/${name}`, type: 'file' as const, body: utf8.encode(`${name} ${version}\n`) }],
    });

    before(async () => {
      const folder = join(root, 'drop');
      const others = (arch: string) => [...packages(arch), spec(arch, 'libold', '1.0-r0'), spec(arch, 'extra', '1.0-r0')];
      await writeRepository(folder, key, (arch) => [...others(arch), spec(arch, 'app', '1.0-r0', ['base', 'libold'])]);
      const server = await serveFolder(folder);
      servers.push(server);
      const repository = text.replace(/repositories: \[.*\]/, `repositories: [${server.url}/repo]`);
      path = join(root, 'cfg', 'app', 'drop.yaml');
      await writeFile(path, repository.replace('packages: [base, data, tool]', 'packages: [app]'));
      lock = await lockOf(path);
      assert.deepEqual(lock.contents.packages.map((p) => `${p.name}-${p.version}`).sort(), ['app-1.0-r0', 'base-1.0-r0', 'libold-1.0-r0']);
      // The update: app-1.1-r0 needs libold no more. app-1.0-r0's file is still there, signed,
      // and no index lists it.
      await writeRepository(folder, key, (arch) => [...others(arch), spec(arch, 'app', '1.1-r0', ['base'])]);
    });

    it('still builds, with the library only the locked version needs', async () => {
      const result = await build(path, lock);
      assert.deepEqual(result.images[0]?.packages.map((p) => `${p.name}-${p.version}`).sort(), [
        'app-1.0-r0',
        'base-1.0-r0',
        'libold-1.0-r0',
      ]);
    });

    it('refuses it holding a package nothing needs, once the unlisted one is fetched, before installing anything', async () => {
      const extraPath = join(root, 'cfg', 'app', 'drop-extra.yaml');
      await writeFile(extraPath, (await readFile(path, 'utf8')).replace('packages: [app]', 'packages: [extra]'));
      const edited = splice(lock, await lockOf(extraPath), ['extra']);
      const steps = new Set<string>();
      const building = buildImage({
        config: await loadWrittenConfig(path),
        configPath: path,
        lock: edited,
        lockPath: 'edited.lock.json',
        archs: ['x86_64'],
        sourceDateEpoch: EPOCH,
        onProgress: (u) => {
          if (u.kind === 'step') steps.add(u.step);
        },
      });
      await assert.rejects(building, refused(/: it holds extra-1\.0-r0 \(x86_64\), which no request and no locked package needs$/));
      assert.deepEqual([...steps], ['resolve']);
    });
  });
});
