/**
 * A named pipe in the place of a cache file is refused or taken for a miss by every reader of one,
 * never opened to wait for a writer (docs/build.md, "Caches"). Each read runs in a child process
 * killed after a while: blocked in open, a thread of libuv outlives SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const root = join(import.meta.dirname, '..', '..');
const src = (path: string) => JSON.stringify(pathToFileURL(join(root, 'src', path)).href);

/** What `script` prints as JSON, run in a child process with `dir` and `fifo` set, killed after `timeout` ms. */
function inChild(dir: string, fifo: string, script: string, timeout = 30_000): unknown {
  const code = `const dir = ${JSON.stringify(dir)};\nconst fifo = ${JSON.stringify(fifo)};\n${script}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  assert.equal(r.status, 0, `signal ${r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('a named pipe in the place of a cache file', () => {
  let dir: string;
  let fifo: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-fifo-'));
    fifo = join(dir, 'fifo');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // Each in a child of its own: one blocked in open would hide the others.
  const readers: [string, string, string][] = [
    ['a file body, read alone', `import { readBody } from ${src('vfs/body.ts')}`, 'readBody(body)'],
    ['a file body, read by a BodyReader', `import { BodyReader } from ${src('vfs/body.ts')}`, 'new BodyReader().read(body)'],
    [
      'a kept Packages file of a known digest: damaged, which a build makes again',
      `import { indexDebStanzaFile } from ${src('pkg/deb/stanza-index.ts')}`,
      `indexDebStanzaFile(fifo, 'Packages', undefined, '0'.repeat(64))`,
    ],
    ['a Packages file', `import { indexDebStanzaFile } from ${src('pkg/deb/stanza-index.ts')}`, `indexDebStanzaFile(fifo, 'Packages')`],
    ['a .deb, hashed before it is read', `import { hashFile } from ${src('io/files.ts')}`, `hashFile(fifo, 'a.deb')`],
  ];
  const want = ['ProvenantError IO', 'ProvenantError IO', 'DamagedKeptFile IO', 'ProvenantError IO', 'ProvenantError IO'];
  for (const [i, [name, imports, read]] of readers.entries()) {
    it(`is refused, without blocking, by the reader of ${name}`, () => {
      const seen = inChild(
        dir,
        fifo,
        `${imports};
        const body = { path: fifo, offset: 0, size: 4, sha256: '0'.repeat(64), crc32: 0 };
        try { await ${read}; console.log('"read"'); } catch (e) { console.log(JSON.stringify(e.constructor.name + ' ' + e.code)); }`,
      );
      assert.equal(seen, want[i]);
    });
  }

  it('is refused by readRegularFileSync, the whole-file reader of a kept Packages file', () => {
    const seen = inChild(
      dir,
      fifo,
      `import { readRegularFileSync, RefusedFile } from ${src('io/files.ts')};
      try { readRegularFileSync(fifo); console.log('"read"'); } catch (e) { console.log(JSON.stringify(e instanceof RefusedFile ? e.problem : String(e))); }`,
    );
    assert.equal(seen, 'is a named pipe');
  });

  it('in place of a compressed index the cache keeps, is a miss: the index is read from the mirror', async () => {
    const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
    const sha = createHash('sha256').update(packages).digest('hex');
    const repo = join(dir, 'repo');
    await mkdir(join(repo, 'dists', 'stable', 'main', 'binary-amd64'), { recursive: true });
    await writeFile(join(repo, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), packages);
    const release = `Origin: Test\nSuite: stable\nCodename: stable\nDate: Wed, 01 Jan 2020 12:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha} ${packages.length} main/binary-amd64/Packages\n`;
    await writeFile(join(repo, 'dists', 'stable', 'Release'), release);
    const cache = join(dir, 'cache');
    await mkdir(join(cache, 'sha256'), { recursive: true });
    const made = spawnSync('mkfifo', [join(cache, 'sha256', sha)]);
    assert.equal(made.status, 0, String(made.stderr));
    const seen = inChild(
      dir,
      fifo,
      `import { fetchDebianIndex } from ${src('pkg/deb/fetch-index.ts')};
      const cached = [];
      const index = await fetchDebianIndex({ url: ${JSON.stringify(repo)}, suite: 'stable', components: ['main'], arch: 'amd64', allowUnsigned: true, cacheDir: ${JSON.stringify(cache)}, onProgress: (u) => cached.push([u.file, u.cached]) });
      console.log(JSON.stringify({ packages: index.indexes[0].packages, cached }));`,
    );
    assert.deepEqual(seen, {
      packages: [{ package: 'a', version: '1', architecture: 'amd64' }],
      cached: [
        ['Release', false],
        ['main/binary-amd64/Packages', false],
      ],
    });
  });
});

/**
 * A file read lazily (opened at the first chunk, so that one a gc removed meanwhile is said to its
 * reader) that a named pipe or a folder replaced between the read's start and that chunk: refused
 * as the check at the read's start refuses it, never waited on. Each in a child process killed
 * after a while, as above: blocked in open, the reader outlives every signal but SIGKILL.
 */
describe('a named pipe or a folder put in the place of a file after its read began', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-fifo-lazy-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Script lines that replace the file at `file` by what `into` names ('fifo', 'folder'). */
  const replace = (file: string, into: string) =>
    `renameSync(${file}, ${file} + '.kept');
    if (${JSON.stringify(into)} === 'fifo') execFileSync('mkfifo', [${file}]); else mkdirSync(${file});`;
  /** Script lines that read `stream` to its end and print what it threw, or "read". */
  const readAll = `try { for await (const _ of stream); console.log('"read"'); }
    catch (e) { console.log(JSON.stringify({ type: e.constructor.name, code: e.code, message: e.message, where: e.where })); }`;
  const imports = `import { renameSync, mkdirSync, writeFileSync } from 'node:fs';
    import { execFileSync } from 'node:child_process';`;
  const layer = 'the bytes of a layer';
  const digest = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const descriptor = JSON.stringify({ mediaType: 'application/octet-stream', digest, size: layer.length });

  for (const into of ['fifo', 'folder']) {
    for (const offset of [0, 10]) {
      it(`in a layout's blob: refused as not a regular file, INVALID_LAYOUT (${into}, offset ${offset})`, () => {
        const layout = join(dir, `layout-${into}-${offset}`);
        const seen = inChild(
          layout,
          '',
          `${imports}
          import { LayoutStore } from ${src('store/layout.ts')};
          import { putBytes } from ${JSON.stringify(pathToFileURL(join(root, 'test', 'helpers', 'images.ts')).href)};
          const store = await LayoutStore.open(dir, { create: true });
          const d = await putBytes(store, new TextEncoder().encode(${JSON.stringify(layer)}), 'application/octet-stream');
          const file = dir + '/blobs/sha256/' + d.digest.slice(7);
          const stream = await store.readBlob(d, { offset: ${offset} });
          ${replace('file', into)}
          ${readAll}
          await store.close();`,
          15_000,
        );
        assert.deepEqual(seen, {
          type: 'ProvenantError',
          code: 'INVALID_LAYOUT',
          message: `${digest.slice(7)} is not a regular file`,
          where: `oci:${layout}@${digest}`,
        });
      });
    }

    it(`in a file source (a cached layer): refused, IO naming the file (${into})`, () => {
      const file = join(dir, `source-${into}`);
      const seen = inChild(
        file,
        '',
        `${imports}
        import { fileSource } from ${src('io/files.ts')};
        writeFileSync(dir, ${JSON.stringify(layer)});
        const stream = await fileSource(${descriptor}, dir).open();
        ${replace('dir', into)}
        ${readAll}`,
        15_000,
      );
      assert.deepEqual(seen, {
        type: 'ProvenantError',
        code: 'IO',
        message: `cannot read ${file}: it ${into === 'fifo' ? 'is a named pipe' : 'is a directory'}, not a regular file`,
        where: file,
      });
    });

    it(`in a blob the fix made in a file: refused, IO naming the blob and the file (${into})`, () => {
      const file = join(dir, `planned-${into}`);
      const seen = inChild(
        file,
        '',
        `${imports}
        import { PlannedStore } from ${src('compat/planned-store.ts')};
        writeFileSync(dir, ${JSON.stringify(layer)});
        const descriptor = ${descriptor};
        const plan = { root: 'sha256:' + '0'.repeat(64), docs: new Map(), blobs: new Map([[descriptor.digest, { descriptor, file: dir }]]), changes: [], dropped: [], renames: [] };
        const stream = await new PlannedStore({ location: 'oci:src' }, plan).readBlob(descriptor);
        ${replace('dir', into)}
        ${readAll}`,
        15_000,
      );
      assert.deepEqual(seen, {
        type: 'ProvenantError',
        code: 'IO',
        message: `blob ${digest}, made by the fix in ${file}, cannot be read: it ${into === 'fifo' ? 'is a named pipe' : 'is a directory'}, not a regular file`,
        where: `oci:src (fixed)@${digest}`,
      });
    });
  }
});
