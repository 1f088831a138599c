import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { isProvenantError } from '../../src/errors.ts';
import { fetchPackages, overridden, parseRepositoryOverride } from '../../src/reproduce/fetch.ts';
import type { ProvenancePackage } from '../../src/reproduce/provenance.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('reproduce-fetch');

describe('repository overrides', () => {
  it('parses OLD=NEW at the first =, and refuses anything else as USAGE', () => {
    assert.deepEqual(parseRepositoryOverride('http://old/repo=http://new/x'), ['http://old/repo', 'http://new/x']);
    assert.deepEqual(parseRepositoryOverride('./testdata/packages=/srv/packages'), ['./testdata/packages', '/srv/packages']);
    for (const bad of ['http://old/repo', '=http://new', 'http://old=', '']) {
      assert.throws(
        () => parseRepositoryOverride(bad),
        (err: unknown) => isProvenantError(err, 'USAGE'),
        bad,
      );
    }
  });

  it('rewrites a location only where OLD ends at a path segment', () => {
    const o = [['http://a/repo', 'http://b/mirror']] as const;
    assert.equal(overridden('http://a/repo/x86_64/p-1.apk', o), 'http://b/mirror/x86_64/p-1.apk');
    assert.equal(overridden('http://a/repo', o), 'http://b/mirror');
    assert.equal(overridden('http://a/repository/x86_64/p-1.apk', o), 'http://a/repository/x86_64/p-1.apk');
    assert.equal(overridden('http://c/repo/p.apk', o), 'http://c/repo/p.apk');
  });
});

describe('package locations an override or a URL would send elsewhere', () => {
  /** A mirror folder with one package, a private file beside it, and a work folder. */
  async function setup() {
    const base = await tempDir();
    const mirror = join(base, 'mirror');
    await mkdir(join(mirror, 'x86_64'), { recursive: true });
    const apk = gzipSync(Buffer.from('a package'));
    await writeFile(join(mirror, 'x86_64', 'p-1.apk'), apk);
    const secret = join(base, 'secret', 'private.gz');
    await mkdir(join(base, 'secret'));
    await writeFile(secret, gzipSync(Buffer.from('not for the provenance to read')));
    const pkg = (url: string): ProvenancePackage => ({
      kind: 'apk',
      name: 'p',
      version: '1',
      architecture: 'x86_64',
      url,
      checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      sha256: createHash('sha256').update(apk).digest('hex'),
    });
    return { base, mirror, secret, pkg, work: join(base, 'work') };
  }

  it("fetches from NEW what follows OLD, and a provenance's own relative path that climbs, when local files are allowed", async () => {
    const { base, mirror, pkg, work } = await setup();
    const overrides = [['https://old.example/alpine', mirror]] as const;
    const r = await fetchPackages([pkg('https://old.example/alpine/x86_64/p-1.apk')], {
      overrides,
      baseDir: undefined,
      cacheDir: undefined,
      dir: work,
    });
    assert.deepEqual(r.changes, []);
    assert.equal(r.locked.length, 1);
    // A build from `repositories: [../mirror]` records such a location; read only when allowed.
    const conf = join(base, 'conf');
    await mkdir(conf);
    const own = await fetchPackages([pkg('../mirror/x86_64/p-1.apk')], {
      overrides: [],
      baseDir: conf,
      cacheDir: undefined,
      dir: join(base, 'work2'),
      allowLocalFiles: true,
    });
    assert.deepEqual(own.changes, []);
  });

  it('refuses a ".." after OLD, raw or percent-encoded, before reading anything, naming the package', async () => {
    const { base, mirror, secret, pkg, work } = await setup();
    const up = '/..'.repeat(base.split('/').length + 2);
    const climbs = [
      `https://old.example/alpine${up}${secret}`,
      `https://old.example/alpine${up.replaceAll('..', '%2e%2e')}${secret}`,
      `https://old.example/alpine${up.replaceAll('..', '.%2E')}${secret}`,
      `https://old.example/alpine/x86_64\\..\\..${up}${secret}`,
    ];
    for (const to of [mirror, pathToFileURL(mirror).href, 'http://127.0.0.1:9/mirror']) {
      for (const url of climbs) {
        let sources = false;
        await assert.rejects(
          fetchPackages([pkg(url)], {
            overrides: [['https://old.example/alpine', to]],
            baseDir: undefined,
            cacheDir: undefined,
            dir: work,
            onSources: () => {
              sources = true;
            },
          }),
          (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && err.where === 'p 1 (x86_64)' && err.message.includes('".."'),
          `${url} -> ${to}`,
        );
        assert.equal(sources, false, 'refused before anything is fetched');
      }
    }
    assert.deepEqual(await readdir(work), [], 'nothing was read into the work folder');
  });

  it('refuses a URL with a ".." segment, with or without an override', async () => {
    const { pkg, work } = await setup();
    for (const url of [
      'http://127.0.0.1:9/repo/../x86_64/p-1.apk',
      'http://127.0.0.1:9/repo/%2E%2e/p-1.apk',
      'file:///srv/repo/../../etc/p-1.apk',
    ]) {
      await assert.rejects(
        fetchPackages([pkg(url)], { overrides: [], baseDir: undefined, cacheDir: undefined, dir: work, allowLocalFiles: true }),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && err.where === 'p 1 (x86_64)',
        url,
      );
    }
  });
});
