// LayoutStore: blobs, manifests, tags, referrers, gc and typed errors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { tagImage } from '../../src/image/copy.ts';
import { fileSource } from '../../src/io/files.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect, MANIFEST_LIMIT } from '../../src/io/verify.ts';
import { cosignTag, encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { type Digest, digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { ROOT } from '../helpers/cli.ts';
import { makeImage, makeReferrer, sh, toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('layout');

describe('LayoutStore', () => {
  it('writes a multi-platform image that reads back byte for byte', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const again = await LayoutStore.open(dir);
    const root = await again.getManifest('v1');
    assert.deepEqual(root.bytes, made.root.bytes);
    assert.equal(root.kind, 'index');
    for (const m of made.manifests) assert.deepEqual((await again.getManifest(m.digest)).bytes, m.bytes);
    for (const [digest, bytes] of made.blobs) {
      const d = await again.statBlob(digest as `sha256:${string}`);
      assert.ok(d, digest);
      assert.deepEqual(await collect(await again.readBlob(d), 1 << 24, 'test'), bytes);
    }
    assert.deepEqual(await again.listTags(), ['v1']);
  });

  it('is read the same by skopeo, and accepted by oci-image-tool and umoci', {
    skip: toolMissing('skopeo') || toolMissing('umoci') || toolMissing('oci-image-tool'),
  }, async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'multi' });
    // umoci works on one image manifest: tag the amd64 one too.
    await store.putManifest(made.manifests[0]!, { tags: ['single'] });
    const raw = sh('skopeo', ['inspect', '--raw', `oci:${dir}:multi`]);
    assert.equal(raw.status, 0, raw.stderr);
    assert.equal(digestOf(raw.stdout), made.root.digest);
    const validate = sh('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=single', dir]);
    assert.equal(validate.status, 0, validate.stdout + validate.stderr);
    assert.match(validate.stdout + validate.stderr, /Validation succeeded/);
    const stat = sh('umoci', ['stat', '--image', `${dir}:single`, '--json']);
    assert.equal(stat.status, 0, stat.stderr);
    assert.ok(JSON.parse(stat.stdout).history !== undefined);
    // And what skopeo writes, we read with the same digests.
    const dir2 = join(await tempDir(), 'by-skopeo');
    const copy = sh('skopeo', ['copy', '--all', '--preserve-digests', `oci:${dir}:multi`, `oci:${dir2}:copied`]);
    assert.equal(copy.status, 0, copy.stderr);
    const theirs = await LayoutStore.open(dir2);
    assert.equal((await theirs.getManifest('copied')).digest, made.root.digest);
    for (const m of made.manifests) assert.deepEqual((await theirs.getManifest(m.digest)).bytes, m.bytes);
  });

  it('refuses a tampered blob or manifest with DIGEST_MISMATCH', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't' });
    const layer = made.manifests[0]!.kind === 'manifest' ? made.manifests[0]!.manifest.layers[0]! : undefined;
    assert.ok(layer);
    const path = join(dir, 'blobs', 'sha256', digestHex(layer.digest));
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(path, bytes);
    await assert.rejects(
      async () => collect(await store.readBlob(layer), 1 << 24, 'test'),
      (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH') && e.message.includes(layer.digest) && e.where !== undefined,
    );
    const mpath = join(dir, 'blobs', 'sha256', digestHex(made.root.digest));
    const tampered = new Uint8Array(made.root.bytes);
    tampered[10] = tampered[10] === 0x41 ? 0x42 : 0x41;
    await writeFile(mpath, tampered);
    await assert.rejects(store.getManifest('t'), (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'));
  });

  it('stores nothing when a blob does not match its descriptor', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const good = new TextEncoder().encode('hello');
    const desc = { mediaType: 'application/octet-stream', digest: digestOf(good), size: good.length };
    await assert.rejects(
      store.putBlob({
        descriptor: desc,
        open: async () =>
          (async function* () {
            yield new TextEncoder().encode('jello');
          })(),
      }),
      (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'),
    );
    await assert.rejects(
      store.putBlob({
        descriptor: desc,
        open: async () =>
          (async function* () {
            yield new TextEncoder().encode('hello!');
          })(),
      }),
      (e: unknown) => isProvenantError(e, 'SIZE_MISMATCH'),
    );
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
  });

  it('leaves no partial file behind when a write fails while the file system is slow to open it', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const good = new TextEncoder().encode('hello');
    const desc = { mediaType: 'application/octet-stream', digest: digestOf(good), size: good.length };
    // On a loaded machine, a write stream's own open of its file can land after the failed
    // write's cleanup ran, and the file then stays ("stores nothing ..." above failed now and
    // then so). A delayed fs.open makes that timing certain.
    const original = fs.open;
    (fs as { open: unknown }).open = (...args: unknown[]) => {
      setTimeout(() => (original as (...a: unknown[]) => void)(...args), 50);
    };
    try {
      for (const bad of ['jello', 'hello!']) {
        await assert.rejects(
          store.putBlob({
            descriptor: desc,
            open: async () =>
              (async function* () {
                yield new TextEncoder().encode(bad);
              })(),
          }),
          (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH', 'SIZE_MISMATCH'),
        );
      }
    } finally {
      fs.open = original;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), []);
  });

  it('stores a blob that is a local file by linking it, checked, and refuses a file that does not match', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'img'), { create: true });
    const bytes = new TextEncoder().encode('a layer kept in a cache\n'.repeat(1000));
    const d = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    const file = join(dir, 'kept');
    await writeFile(file, bytes);
    assert.equal(await store.putBlob(fileSource(d, file)), 'stored');
    const blob = join(dir, 'img', 'blobs', 'sha256', digestHex(d.digest));
    assert.deepEqual(new Uint8Array(await readFile(blob)), bytes);
    assert.equal(fs.statSync(blob).ino, fs.statSync(file).ino, 'a hard link, not a copy');

    // The file does not have the digest its source claims: nothing is stored, nothing is left.
    const other = { ...d, digest: digestOf(new TextEncoder().encode('something else')) };
    await assert.rejects(store.putBlob(fileSource(other, file)), (err: unknown) => isProvenantError(err, 'DIGEST_MISMATCH'));
    assert.equal(await store.statBlob(other.digest), undefined);
    assert.deepEqual(
      (await readdir(join(dir, 'img', 'blobs', 'sha256'))).filter((n) => n.startsWith('.tmp-')),
      [],
      'no temporary file is left',
    );
    await store.close();
  });

  it('reads no byte of a blob that links out of the layout, follows links inside it, and replaces such a link', async () => {
    const base = await tempDir();
    const dir = join(base, 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const m = made.manifests[0]!;
    assert.ok(m.kind === 'manifest');
    const layer = m.manifest.layers[0]!;
    const path = join(dir, 'blobs', 'sha256', digestHex(layer.digest));
    const secret = join(base, 'host-file');
    await writeFile(secret, 'a file of the host, not of the layout\n');
    fs.rmSync(path);
    fs.symlinkSync(secret, path);
    // Refused before a stream is handed out: `blob` would print what it yields.
    await assert.rejects(
      store.readBlob(layer),
      (e: unknown) => isProvenantError(e, 'UNSAFE_PATH') && e.message.includes(secret) && e.where?.includes(layer.digest) === true,
    );
    // Within the layout a link is followed.
    fs.rmSync(path);
    await writeFile(join(dir, 'kept-here'), made.blobs.get(layer.digest)!);
    fs.symlinkSync('../../kept-here', path);
    assert.deepEqual(await collect(await store.readBlob(layer), 1 << 24, 'test'), made.blobs.get(layer.digest));
    // Writing the blob again over a link out of the layout replaces the link, not the host file.
    fs.rmSync(path);
    fs.symlinkSync(secret, path);
    await store.putBlob(bytesSource(layer, made.blobs.get(layer.digest)!), { verifyExisting: true });
    assert.ok(!fs.lstatSync(path).isSymbolicLink());
    assert.equal(fs.readFileSync(secret, 'utf8'), 'a file of the host, not of the layout\n');
    assert.deepEqual(await collect(await store.readBlob(layer), 1 << 24, 'test'), made.blobs.get(layer.digest));
  });

  it('hashes a blob that is there when asked, and writes a corrupt one again', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const bytes = new TextEncoder().encode('the right content');
    const d = { mediaType: 'application/octet-stream', digest: digestOf(bytes), size: bytes.length };
    assert.equal(await store.putBlob(bytesSource(d, bytes)), 'stored');
    const path = join(dir, 'blobs', 'sha256', digestHex(d.digest));
    await writeFile(path, new TextEncoder().encode('the wrong content'));
    // Trusted by name unless asked.
    const again = await LayoutStore.open(dir);
    assert.equal(await again.putBlob(bytesSource(d, bytes)), 'exists');
    assert.equal(await again.putBlob(bytesSource(d, bytes), { verifyExisting: true }), 'stored');
    assert.deepEqual(new Uint8Array(await readFile(path)), bytes);
    assert.equal(await again.putBlob(bytesSource(d, bytes), { verifyExisting: true }), 'exists');
  });

  it('refuses an index.json larger than the manifest limit before reading it', async () => {
    const dir = join(await tempDir(), 'img');
    await LayoutStore.open(dir, { create: true });
    // Valid JSON, padded with whitespace to exactly the limit, then one byte past it.
    const head = '{"schemaVersion":2,"manifests":[]';
    const at = `${head}${' '.repeat(MANIFEST_LIMIT - head.length - 1)}}`;
    assert.equal(at.length, MANIFEST_LIMIT);
    await writeFile(join(dir, 'index.json'), at);
    assert.deepEqual((await LayoutStore.open(dir)).index.manifests, []);
    await writeFile(join(dir, 'index.json'), ` ${at}`);
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) =>
        isProvenantError(e, 'INVALID_LAYOUT') && e.message.includes(`${MANIFEST_LIMIT + 1} bytes`) && /4 MiB/.test(e.hint ?? ''),
    );
  });

  it('refuses to write an index.json past the limit it reads, writing nothing', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    // The one entry there, annotated to fill index.json to 100 bytes under the limit.
    const entry = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests[0];
    const index = (pad: string) =>
      JSON.stringify({ schemaVersion: 2, manifests: [{ ...entry, annotations: { ...entry.annotations, pad } }] });
    const full = index('x'.repeat(MANIFEST_LIMIT - 100 - index('').length));
    assert.equal(full.length, MANIFEST_LIMIT - 100);
    await writeFile(join(dir, 'index.json'), full);
    const again = await LayoutStore.open(dir);
    await assert.rejects(
      again.putManifest(made.root, { tags: ['v2'] }),
      (e: unknown) =>
        isProvenantError(e, 'TOO_LARGE') &&
        e.where === `${again.location}/index.json` &&
        e.message.includes(`more than the limit of ${MANIFEST_LIMIT}`) &&
        /nothing was written/.test(e.hint ?? ''),
    );
    assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), full);
    assert.equal((await (await LayoutStore.open(dir)).resolve('v1'))?.digest, made.root.digest, 'the layout still opens');
  });

  it('refuses an index.json or oci-layout that is not a regular file, without waiting on a FIFO', async () => {
    const dir = join(await tempDir(), 'img');
    await LayoutStore.open(dir, { create: true });
    const index = join(dir, 'index.json');
    const kept = await readFile(index);
    // Opened for reading with no writer, a FIFO would block the process for good.
    fs.rmSync(index);
    sh('mkfifo', [index]);
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) =>
        isProvenantError(e, 'INVALID_LAYOUT') && e.message === 'index.json is not a regular file' && e.where === `oci:${dir}/index.json`,
    );
    fs.rmSync(index);
    fs.mkdirSync(index);
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /index\.json is not a regular file/.test(e.message),
    );
    fs.rmdirSync(index);
    await writeFile(index, kept);
    const layout = join(dir, 'oci-layout');
    fs.rmSync(layout);
    sh('mkfifo', [layout]);
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && e.message === 'oci-layout is not a regular file' && e.where === `oci:${dir}`,
    );
  });

  it('refuses a blob that is a FIFO, in every command that reads it, without waiting for a writer', {
    skip: toolMissing('mkfifo'),
  }, async () => {
    const dir = join(await tempDir(), 'fifo');
    fs.cpSync(join(ROOT, 'examples', 'hello-oci'), dir, { recursive: true });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: Digest }> };
    const digest = index.manifests[0]!.digest;
    const blob = join(dir, 'blobs', 'sha256', digestHex(digest));
    fs.rmSync(blob);
    sh('mkfifo', [blob]);
    for (const args of [
      ['inspect', `oci:${dir}`],
      ['manifest', `oci:${dir}`],
      ['blob', `oci:${dir}`, digest],
      ['copy', `oci:${dir}`, `oci:${dir}-copy:v1`],
    ]) {
      // Killed after 30 s, so that a process blocked on the pipe fails this test instead of hanging it.
      const run = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(ROOT, 'src', 'cli', 'main.ts'), ...args],
          { timeout: 30_000, killSignal: 'SIGKILL' },
          (err, _out, stderr) => resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }),
        );
      });
      assert.equal(run.status, 1, `${args[0]}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`${digestHex(digest)} is not a regular file`), args[0]);
    }
  });

  it('reads no index.json or oci-layout that links out of the layout, and follows one that links inside it', async () => {
    const base = await tempDir();
    const dir = join(base, 'img');
    await makeImage(await LayoutStore.open(dir, { create: true }), { tag: 'v1' });
    const index = join(dir, 'index.json');
    // A host file that is JSON where the checks look: its values were quoted in the error.
    const host = join(base, 'host.json');
    await writeFile(host, '{"schemaVersion":2,"manifests":[{"mediaType":"SECRET-TOKEN-abc","digest":"x","size":1}]}');
    fs.renameSync(index, join(dir, 'kept-index.json'));
    fs.symlinkSync(host, index);
    for (const open of [() => LayoutStore.open(dir), () => LayoutStore.open(dir, { create: true })]) {
      await assert.rejects(
        open(),
        (e: unknown) =>
          isProvenantError(e, 'UNSAFE_PATH') &&
          e.message.includes(host) &&
          !e.message.includes('SECRET') &&
          e.where === `oci:${dir}/index.json`,
      );
    }
    // Within the layout a link is followed.
    fs.rmSync(index);
    fs.symlinkSync('kept-index.json', index);
    assert.deepEqual(await (await LayoutStore.open(dir)).listTags(), ['v1']);
    const layout = join(dir, 'oci-layout');
    fs.rmSync(layout);
    await writeFile(host, '{"imageLayoutVersion":"SECRET-TOKEN-abc"}');
    fs.symlinkSync(host, layout);
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) =>
        isProvenantError(e, 'UNSAFE_PATH') && e.message.includes(host) && !e.message.includes('SECRET') && e.where === `oci:${dir}`,
    );
  });

  it("keeps index.json's permission bits when a tag is added", async () => {
    const dir = join(await tempDir(), 'l');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
    for (const mode of [0o600, 0o640]) {
      await fs.promises.chmod(join(dir, 'index.json'), mode);
      await store.putManifest(made.root, { tags: [`v${mode.toString(8)}`] });
      assert.equal(fs.statSync(join(dir, 'index.json')).mode & 0o777, mode);
    }
  });

  it('refuses an index.json that gives one digest two sizes', async () => {
    const dir = join(await tempDir(), 'img');
    await LayoutStore.open(dir, { create: true });
    const d = `sha256:${'a'.repeat(64)}`;
    const index = {
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 10 },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 11 },
      ],
    };
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /size 10 at \/manifests\/0 and size 11 at \/manifests\/1/.test(e.message),
    );
  });

  it('refuses an index.json entry or a blob named by a digest algorithm OCI does not register, storing nothing', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const bytes = new TextEncoder().encode('layer-bytes');
    const md5 = `md5:${createHash('md5').update(bytes).digest('hex')}` as Digest;
    await assert.rejects(
      store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest: md5, size: bytes.length }, bytes)),
      (e: unknown) => isProvenantError(e, 'INVALID_DIGEST') && e.message.includes(md5),
    );
    assert.deepEqual(await readdir(join(dir, 'blobs')), ['sha256']);
    const sha1 = `sha1:${createHash('sha1').update(bytes).digest('hex')}`;
    await writeFile(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha1, size: 11 }],
      }),
    );
    await assert.rejects(
      LayoutStore.open(dir),
      (e: unknown) =>
        isProvenantError(e, 'INVALID_LAYOUT') && /names sha1/.test(e.message) && e.where === `oci:${dir}/index.json#/manifests/0/digest`,
    );
  });

  it('finds referrers through index.json, filtered by artifact type', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't' });
    const sig = await makeReferrer(store, made.root, 'application/vnd.example.sig', 'sig');
    const sbom = await makeReferrer(store, made.root, 'application/spdx+json', 'sbom');
    const all = await (await LayoutStore.open(dir)).referrers(made.root.digest);
    assert.deepEqual(all.map((d) => d.digest).sort(), [sig.digest, sbom.digest].sort());
    const only = await store.referrers(made.root.digest, { artifactType: 'application/spdx+json' });
    assert.deepEqual(
      only.map((d) => [d.digest, d.artifactType]),
      [[sbom.digest, 'application/spdx+json']],
    );
    assert.deepEqual(await store.referrers(made.manifests[0]!.digest), []);
  });

  it('a referrer that does not match its digest, or an entry that is no manifest, hides no other referrer and is named in a warning', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't' });
    const sig = await makeReferrer(store, made.root, 'application/vnd.example.sig', 'sig');
    const sbom = await makeReferrer(store, made.root, 'application/spdx+json', 'sbom');
    // A referrer changed after it was written: still JSON naming the subject, no longer its digest.
    const tampered = await makeReferrer(store, made.root, 'application/vnd.example.sig', 'tampered');
    const text = new TextDecoder().decode(tampered.bytes).replace('1970-01-01T00:00:00Z', '1970-01-01T00:00:01Z');
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(tampered.digest)), text);
    // An entry of index.json whose blob is JSON but no manifest, and so names no subject.
    const junk = new TextEncoder().encode('{"not":"a manifest"}');
    const junkDigest = digestOf(junk);
    await store.putBlob(bytesSource({ mediaType: MediaType.OciManifest, digest: junkDigest, size: junk.length }, junk));
    // And one whose blob is a folder: refused as no regular file before it is read.
    const folderDigest = digestOf(new TextEncoder().encode('a folder stands here'));
    fs.mkdirSync(join(dir, 'blobs', 'sha256', digestHex(folderDigest)));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    index.manifests.push({ mediaType: MediaType.OciManifest, digest: junkDigest, size: junk.length });
    index.manifests.push({ mediaType: MediaType.OciManifest, digest: folderDigest, size: 20 });
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));

    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const again = await LayoutStore.open(dir);
    const all = await again.referrers(made.root.digest, { logger });
    assert.deepEqual(all.map((d) => d.digest).sort(), [sig.digest, sbom.digest, tampered.digest].sort());
    // The tampered one is listed as index.json describes it, and reading it fails as it should.
    const listed = all.find((d) => d.digest === tampered.digest)!;
    const entry = index.manifests.find((m: { digest: string }) => m.digest === tampered.digest);
    assert.deepEqual(listed, entry);
    await assert.rejects(again.getManifest(listed.digest), (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'));
    assert.equal(warnings.length, 3, warnings.join('\n'));
    const about = (d: string) => warnings.find((w) => w.includes(`manifest ${d}`)) ?? '';
    assert.match(about(tampered.digest), /DIGEST_MISMATCH|does not match|digest/);
    assert.match(about(tampered.digest), new RegExp(`listed as a referrer of ${made.root.digest}`));
    assert.match(about(junkDigest), /not a valid image manifest.*passed over while listing referrers/);
    assert.match(about(folderDigest), /is not a regular file.*passed over while listing referrers/);
    await assert.rejects(again.getManifest(folderDigest), (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT'));
    // The filter applies to what the tampered bytes claim; the junk entry is named once per store.
    const sboms = await again.referrers(made.root.digest, { logger, artifactType: 'application/spdx+json' });
    assert.deepEqual(
      sboms.map((d) => d.digest),
      [sbom.digest],
    );
    assert.equal(warnings.length, 3);
    assert.deepEqual(await again.referrers(made.manifests[0]!.digest, { logger }), []);
  });

  it('an unreadable entry of any JSON shape is listed by the subject and artifact type it claims, never failing the listing', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't' });
    const subject = { digest: made.root.digest };
    // No valid manifest (INVALID_MANIFEST), each read for what it claims: the artifact type a
    // listing gives a manifest, from fields of any type.
    const shapes: Array<[unknown, string | undefined]> = [
      [{ subject, artifactType: 7, config: 'x' }, undefined],
      [{ subject, artifactType: null, config: { mediaType: 'application/spdx+json' } }, 'application/spdx+json'],
      [{ subject, artifactType: 'application/vnd.example.sig', config: null }, 'application/vnd.example.sig'],
      [{ subject, config: { mediaType: ['a'] } }, undefined],
      // An index's config is not read, whatever it holds.
      [{ subject, manifests: [], config: { mediaType: 'application/spdx+json' } }, undefined],
      [{ subject, mediaType: MediaType.OciIndex, config: { mediaType: 'application/spdx+json' } }, undefined],
      // A manifest by its media type, whatever stray fields it carries.
      [
        { subject, mediaType: MediaType.OciManifest, manifests: [], config: { mediaType: 'application/spdx+json' } },
        'application/spdx+json',
      ],
      [{ subject: 'sha256:00', artifactType: 'application/vnd.example.sig' }, undefined],
      [{ subject: null }, undefined],
      [[subject], undefined],
      ['a string', undefined],
    ];
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const listedAs = new Map<string, string | undefined>();
    for (const [doc, type] of shapes) {
      const bytes = new TextEncoder().encode(JSON.stringify(doc));
      const digest = digestOf(bytes);
      await store.putBlob(bytesSource({ mediaType: MediaType.OciManifest, digest, size: bytes.length }, bytes));
      index.manifests.push({ mediaType: MediaType.OciManifest, digest, size: bytes.length });
      const claims = typeof doc === 'object' && doc !== null && !Array.isArray(doc) && (doc as { subject?: unknown }).subject === subject;
      if (claims) listedAs.set(digest, type);
    }
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    const again = await LayoutStore.open(dir);
    assert.deepEqual((await again.referrers(made.root.digest)).map((d) => d.digest).sort(), [...listedAs.keys()].sort());
    for (const type of ['application/spdx+json', 'application/vnd.example.sig']) {
      const wanted = [...listedAs].filter(([, t]) => t === type).map(([d]) => d);
      assert.deepEqual(
        (await again.referrers(made.root.digest, { artifactType: type })).map((d) => d.digest),
        wanted,
        type,
      );
    }
  });

  /** A layout whose one referrer was changed after it was written; each test opens it afresh. */
  async function tamperedReferrer() {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 't' });
    const tampered = await makeReferrer(store, made.root, 'application/vnd.example.sig', 'tampered');
    const text = new TextDecoder().decode(tampered.bytes).replace('1970-01-01T00:00:00Z', '1970-01-01T00:00:01Z');
    await writeFile(join(dir, 'blobs', 'sha256', digestHex(tampered.digest)), text);
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const listed = new RegExp(`manifest ${tampered.digest}, .*listed as a referrer of ${made.root.digest}`);
    return { store: await LayoutStore.open(dir), made, tampered: tampered.digest, warnings, logger, listed };
  }
  const digests = (ds: Array<{ digest: string }>) => ds.map((d) => d.digest);

  it('an unreadable referrer met by a lookup without a logger is still named to the next caller with one', async () => {
    const { store, made, tampered, warnings, logger, listed } = await tamperedReferrer();
    // The library's own lookups give no logger: they tell no one, so they use up nothing.
    assert.deepEqual(await store.referrers(made.manifests[0]!.digest), []);
    assert.deepEqual(digests(await store.referrers(made.root.digest)), [tampered]);
    assert.deepEqual(digests(await store.referrers(made.root.digest, { logger })), [tampered]);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, listed);
    await store.referrers(made.root.digest, { logger });
    assert.equal(warnings.length, 1, warnings.join('\n'));
  });

  it('an unreadable referrer passed over for another image is named again when it is listed for its own, each once', async () => {
    const { store, made, tampered, warnings, logger, listed } = await tamperedReferrer();
    // A copy asks for the referrers of each platform image, then of the index they name.
    assert.deepEqual(await store.referrers(made.manifests[0]!.digest, { logger }), []);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, new RegExp(`manifest ${tampered}, .*passed over while listing referrers`));
    assert.deepEqual(digests(await store.referrers(made.root.digest, { logger })), [tampered]);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[1]!, listed);
    // Neither is said again; once named, it is not said to be passed over for a third image.
    await store.referrers(made.root.digest, { logger });
    await store.referrers(made.manifests[0]!.digest, { logger });
    await store.referrers(made.manifests[1]!.digest, { logger });
    assert.equal(warnings.length, 2, warnings.join('\n'));
  });

  it('an image kept untagged, then tagged, is listed once, under its tag', async () => {
    // What writing by digest, signing, then tagging does (build --sign, fix, the Action).
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, {});
    const root = await store.getManifest(made.root.digest);
    await store.putManifest(root, { tags: [], keepAsRoot: true });
    await tagImage(store, made.root.digest, ['1.0']);
    const listed = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests as {
      digest: string;
      annotations?: Record<string, string>;
    }[];
    assert.deepEqual(
      listed.map((m) => [m.digest, m.annotations?.['org.opencontainers.image.ref.name'] ?? null]),
      [[made.root.digest, '1.0']],
    );
  });

  it('collects garbage: blobs nothing references go, the rest stay', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'keep' });
    const orphan = new TextEncoder().encode('orphan');
    const od = { mediaType: 'application/octet-stream', digest: digestOf(orphan), size: orphan.length };
    await store.putBlob({
      descriptor: od,
      open: async () =>
        (async function* () {
          yield orphan;
        })(),
    });
    await writeFile(join(dir, 'blobs', 'sha256', '.tmp-leftover'), 'x');
    const result = await store.gc();
    assert.deepEqual(result, {
      dryRun: false,
      removed: [od.digest],
      blobs: [{ digest: od.digest, size: orphan.length }],
      removedBytes: orphan.length,
      partials: { count: 1, bytes: 1, files: [{ path: join('blobs', 'sha256', '.tmp-leftover'), size: 1 }] },
      dropped: [],
      droppedTags: [],
    });
    const left = await readdir(join(dir, 'blobs', 'sha256'));
    assert.equal(left.length, made.blobs.size + made.manifests.length + 1);
    assert.ok(!left.includes('.tmp-leftover'));
  });

  it('a gc dry run refuses to plan over the trash of a gc that died, and leaves it; the real gc puts it back, then collects', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    await makeImage(store, { tag: 'keep' });
    await store.close();
    const orphan = new TextEncoder().encode('orphan in the trash');
    const trashed = join(dir, '.provenant-gc-trash', 'sha256', digestHex(digestOf(orphan)));
    fs.mkdirSync(join(dir, '.provenant-gc-trash', 'sha256'), { recursive: true });
    await writeFile(trashed, orphan);
    const index = await readFile(join(dir, 'index.json'), 'utf8');
    const again = await LayoutStore.open(dir);
    const warnings: string[] = [];
    const logger = { debug: () => {}, info: () => {}, warn: (m: string) => warnings.push(m) };
    // What the trash holds may be a live manifest, whose layers the walk would then miss.
    await assert.rejects(again.gc({ dryRun: true, logger }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_LAYOUT'));
      assert.match(err.message, /a gc that was interrupted left blobs in its trash/);
      return true;
    });
    assert.deepEqual(warnings, []);
    assert.ok(fs.existsSync(trashed));
    assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), index);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['.provenant-gc-trash', 'blobs', 'index.json', 'oci-layout']);
    const result = await again.gc();
    await again.close();
    assert.deepEqual(result.removed, [digestOf(orphan)]);
    assert.ok(!fs.existsSync(join(dir, '.provenant-gc-trash')));
  });

  it('a gc dry run refuses to plan over the blobs a gc on a full disk moved beside its trash folder, as over the folder', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'app' });
    await store.close();
    // The tagged index itself moved aside: a plan without it would list the whole image.
    const beside = `.provenant-gc-trash-sha256-${digestHex(made.root.digest)}`;
    fs.renameSync(join(dir, 'blobs', 'sha256', digestHex(made.root.digest)), join(dir, beside));
    const index = await readFile(join(dir, 'index.json'), 'utf8');
    const again = await LayoutStore.open(dir);
    await assert.rejects(again.gc({ dryRun: true }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_LAYOUT'), String(err));
      assert.match(err.message, /a gc that was interrupted left blobs in its trash/);
      assert.equal(err.where, join(dir, beside));
      return true;
    });
    assert.equal(await readFile(join(dir, 'index.json'), 'utf8'), index);
    assert.deepEqual(fs.readdirSync(dir).sort(), [beside, 'blobs', 'index.json', 'oci-layout']);
    // The real gc puts it back first, and the image is whole.
    const result = await again.gc();
    await again.close();
    assert.deepEqual(result.removed, []);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.deepEqual((await (await LayoutStore.open(dir)).getManifest('app')).bytes, made.root.bytes);
  });

  it('gc keeps the whole subject of a referrer, whichever index.json entry comes first', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const old = await makeImage(store, { tag: 'app', seed: 1 });
    const sig = await makeReferrer(store, old.root, 'application/vnd.example.sig', 'sig');
    await store.putManifest(sig, { tags: ['att'] });
    // Tag app again: its entry moves after att's, so gc meets the referrer (and its subject) first.
    await store.putManifest(old.root, { tags: ['app'] });
    const tags = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests.map(
      (m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'],
    );
    assert.deepEqual(tags.slice(0, 2), ['att', 'app']);
    // Then app names another image: the old one is reached only as the signature's subject.
    const other = await makeImage(store, { tag: 'app', seed: 100 });
    const result = await store.gc();
    assert.deepEqual(result.removed, []);
    const again = await LayoutStore.open(dir);
    for (const made of [old, other]) {
      for (const m of made.manifests) assert.deepEqual((await again.getManifest(m.digest)).bytes, m.bytes);
      for (const [digest, bytes] of made.blobs) {
        const d = await again.statBlob(digest as `sha256:${string}`);
        assert.ok(d, `${digest} was collected`);
        assert.deepEqual(await collect(await again.readBlob(d), 1 << 24, 'test'), bytes);
      }
    }
    assert.deepEqual((await again.getManifest('att')).bytes, sig.bytes);
    assert.deepEqual((await again.getManifest(old.root.digest)).bytes, old.root.bytes);
  });

  it("gc drops the untagged referrers of an image a tag moved away from, and frees that image, keeping all the tagged one's attachments reach", async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    // Three rebuilds of one tag, each with an attestation (untagged, its subject the image), as `build -o oci:DIR:latest` writes.
    const builds = [];
    for (const seed of [1, 2, 3]) {
      const image = await makeImage(store, { tag: 'latest', seed });
      const att = await makeReferrer(store, image.root, 'application/vnd.example.att', `att ${seed}`);
      builds.push({ image, att });
    }
    const current = builds[2]!;
    // A signature of the current attestation: a referrer of a referrer, kept through it.
    const sig = await makeReferrer(store, current.att, 'application/vnd.example.sig', 'sig of att 3');
    // An image kept untagged in its own right (written by digest), with its attestation: both stay.
    const byDigest = await makeImage(store, { seed: 4 });
    await store.putManifest(byDigest.root, { keepAsRoot: true });
    const kept = await makeReferrer(store, byDigest.root, 'application/vnd.example.att', 'att 4');
    const result = await store.gc();
    assert.deepEqual(result.dropped, [builds[0]!.att.digest, builds[1]!.att.digest].sort());
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      index.manifests.map((m) => m.digest).sort(),
      [current.image.root.digest, current.att.digest, sig.digest, byDigest.root.digest, kept.digest].sort(),
    );
    const present = new Set(fs.readdirSync(join(dir, 'blobs', 'sha256')).map((h) => `sha256:${h}`));
    for (const old of builds.slice(0, 2)) {
      assert.equal(present.has(old.image.root.digest), false, 'the old image is collected');
      assert.equal(present.has(old.att.digest), false, 'its attestation too');
    }
    const again = await LayoutStore.open(dir);
    for (const made of [current.image, byDigest]) {
      for (const [digest, bytes] of made.blobs) {
        const d = await again.statBlob(digest as Digest);
        assert.ok(d, `${digest} was collected`);
        assert.deepEqual(await collect(await again.readBlob(d), 1 << 24, 'test'), bytes);
      }
    }
    for (const r of [current.att, sig, kept]) {
      assert.deepEqual((await again.getManifest(r.digest)).bytes, r.bytes);
      for (const l of r.kind === 'manifest' ? [r.manifest.config, ...r.manifest.layers] : []) assert.ok(present.has(l.digest), l.digest);
    }
    assert.deepEqual(
      (await again.referrers(current.image.root.digest)).map((d) => d.digest),
      [current.att.digest],
    );
    // Nothing more to drop or free the second time.
    const twice = await again.gc();
    assert.deepEqual([twice.dropped, twice.removed], [[], []]);
  });

  it('gc keeps a referrer and a cosign tag whose subject is not in the layout (copied alone by digest), with their blobs', async () => {
    const src = await LayoutStore.open(join(await tempDir(), 'src'), { create: true });
    const image = await makeImage(src, { tag: 'app', seed: 1 });
    const dir = join(await tempDir(), 'dst');
    const store = await LayoutStore.open(dir, { create: true });
    const att = await makeReferrer(store, image.root, 'application/vnd.example.att', 'att');
    const sig = await cosignSignature(store, image.root.digest, 'sig');
    const before = fs.readFileSync(join(dir, 'index.json'), 'utf8');
    const blobs = fs.readdirSync(join(dir, 'blobs', 'sha256')).sort();
    // Nothing is missing that gc could keep: no warning, on this run or any later one.
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const result = await store.gc({ logger });
    assert.deepEqual([result.dropped, result.droppedTags, result.removed], [[], [], []]);
    assert.deepEqual(warnings, []);
    assert.equal(fs.readFileSync(join(dir, 'index.json'), 'utf8'), before);
    assert.deepEqual(fs.readdirSync(join(dir, 'blobs', 'sha256')).sort(), blobs);
    const again = await LayoutStore.open(dir);
    assert.deepEqual((await again.getManifest(att.digest)).bytes, att.bytes);
    assert.deepEqual((await again.getManifest(cosignTag(image.root.digest, 'sig'))).bytes, sig.bytes);
  });

  it("gc keeps an image a user tagged with a name of cosign's scheme, and drops an SBOM cosign attached under such a tag", async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const first = await makeImage(store, { tag: 'latest', seed: 10 });
    const second = await makeImage(store, { tag: 'latest', seed: 20 });
    await makeImage(store, { tag: 'latest', seed: 30 });
    // A runnable image, tagged by hand with the name of the first build's SBOM: only a name.
    const other = await makeImage(store, { seed: 40 });
    const userTag = cosignTag(first.root.digest, 'sbom');
    await store.putManifest(other.root, { tags: [userTag] });
    // What `cosign attach sbom` writes for the second build: one layer, the document.
    const sbom = await cosignSbom(store, second.root.digest, 'text/spdx+json');
    await store.close();
    const result = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual(result.droppedTags, [cosignTag(second.root.digest, 'sbom')]);
    const again = await LayoutStore.open(dir);
    assert.deepEqual((await again.listTags()).sort(), ['latest', userTag].sort());
    assert.deepEqual((await again.getManifest(userTag)).bytes, other.root.bytes);
    const present = new Set(fs.readdirSync(join(dir, 'blobs', 'sha256')).map((h) => `sha256:${h}`));
    for (const d of other.blobs.keys()) assert.ok(present.has(d), `${d} was collected`);
    for (const d of [first.root.digest, second.root.digest, sbom.digest, ...children(sbom)]) {
      assert.equal(present.has(d), false, `${d} is collected`);
    }
  });

  it("gc drops cosign's tags of the images rebuilds moved a tag from, with those images, and keeps those of images kept otherwise", async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    // Three rebuilds of latest, each signed as `sign` writes: a manifest under sha256-<hex>.sig.
    const builds = [];
    for (const seed of [1, 2, 3]) {
      const image = await makeImage(store, { tag: 'latest', seed: seed * 10 });
      const sig = await cosignSignature(store, image.root.digest, `sig ${seed}`);
      builds.push({ image, sig, tag: cosignTag(image.root.digest, 'sig') });
    }
    // The second build is also tagged stable: its signature stays. And an attestation of the
    // first under .att goes with it; one under a cosign tag of an image the layout never had stays.
    await store.putManifest(builds[1]!.image.root, { tags: ['stable'] });
    const att = await cosignSignature(store, builds[0]!.image.root.digest, 'att 1', 'att');
    const absent = await cosignSignature(store, digestOf('no such image'), 'sig of an image copied elsewhere');
    const result = await store.gc();
    assert.deepEqual(result.droppedTags, [builds[0]!.tag, cosignTag(builds[0]!.image.root.digest, 'att')].sort());
    assert.deepEqual(result.dropped, []);
    const again = await LayoutStore.open(dir);
    assert.deepEqual(
      (await again.listTags()).sort(),
      ['latest', 'stable', builds[1]!.tag, builds[2]!.tag, cosignTag(digestOf('no such image'), 'sig')].sort(),
    );
    const present = new Set(fs.readdirSync(join(dir, 'blobs', 'sha256')).map((h) => `sha256:${h}`));
    for (const d of [builds[0]!.image.root.digest, ...builds[0]!.image.blobs.keys(), builds[0]!.sig.digest, att.digest]) {
      assert.equal(present.has(d), false, `${d} is collected`);
    }
    for (const b of builds.slice(1)) {
      for (const d of [...b.image.blobs.keys(), b.sig.digest, ...children(b.sig)]) assert.ok(present.has(d), `${d} was collected`);
    }
    for (const d of [absent.digest, ...children(absent)]) assert.ok(present.has(d), `${d} was collected`);
    const twice = await again.gc();
    assert.deepEqual([twice.droppedTags, twice.removed], [[], []]);
  });

  it("a live writer's list keeps a referrer of an image no entry names; once it closes, gc drops both", async () => {
    const dir = join(await tempDir(), 'img');
    const writer = await LayoutStore.open(dir, { create: true });
    const image = await makeImage(writer, { seed: 7 });
    const att = await makeReferrer(writer, image.root, 'application/vnd.example.att', 'att');
    // The writer wrote the image and its attestation, and has not tagged the image yet.
    const path = join(dir, 'index.json');
    const index = JSON.parse(fs.readFileSync(path, 'utf8')) as { manifests: Array<{ digest: string }> };
    index.manifests = index.manifests.filter((m) => m.digest !== image.root.digest);
    fs.writeFileSync(path, JSON.stringify(index));
    const during = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual([during.dropped, during.removed], [[], []]);
    assert.deepEqual(
      (JSON.parse(fs.readFileSync(path, 'utf8')) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest),
      [att.digest],
    );
    await writer.close();
    const after = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual(after.dropped, [att.digest]);
    assert.ok(after.removed.includes(image.root.digest) && after.removed.includes(att.digest));
  });

  it('gc fails on a damaged untagged manifest that names a subject, as on any damaged entry, and drops nothing', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const old = await makeImage(store, { tag: 'app', seed: 1 });
    const att = await makeReferrer(store, old.root, 'application/vnd.example.att', 'att');
    await makeImage(store, { tag: 'app', seed: 2 });
    await store.close(); // its writer's list would keep the attestation
    // Still JSON naming its subject, no longer what its digest says.
    const doc = JSON.parse(new TextDecoder().decode(att.bytes)) as { annotations: Record<string, string> };
    doc.annotations['org.example.changed'] = 'yes';
    fs.writeFileSync(join(dir, 'blobs', 'sha256', digestHex(att.digest)), JSON.stringify(doc));
    const before = fs.readFileSync(join(dir, 'index.json'), 'utf8');
    const blobs = fs.readdirSync(join(dir, 'blobs', 'sha256')).sort();
    await assert.rejects((await LayoutStore.open(dir)).gc(), (e: unknown) => isProvenantError(e, 'DIGEST_MISMATCH'));
    assert.equal(fs.readFileSync(join(dir, 'index.json'), 'utf8'), before);
    assert.deepEqual(fs.readdirSync(join(dir, 'blobs', 'sha256')).sort(), blobs);
  });

  it('says a blob missing under a reader may have been removed by a gc, only when one may have run', async () => {
    const dir = join(await tempDir(), 'img');
    const writer = await LayoutStore.open(dir, { create: true });
    const old = await makeImage(writer, { tag: 'app', seed: 1 });
    const reader = await LayoutStore.open(dir);
    const manifest = await reader.getManifest('app');
    assert.equal(manifest.digest, old.root.digest);
    const [digest, bytes] = [...old.blobs].find(([d]) => d !== old.root.digest && !old.manifests.some((m) => m.digest === d))!;
    const d = { mediaType: 'application/octet-stream', digest: digest as Digest, size: bytes.length };
    // Not there, and nothing changed: the layout lacks it, and no gc is blamed.
    fs.renameSync(join(dir, 'blobs', 'sha256', digestHex(d.digest)), join(dir, 'moved'));
    await assert.rejects(
      reader.readBlob(d),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.message === `blob ${digest} is not in the layout`,
    );
    fs.renameSync(join(dir, 'moved'), join(dir, 'blobs', 'sha256', digestHex(d.digest)));
    // The tag moves on and a gc collects the old image while the reader still reads it.
    await makeImage(writer, { tag: 'app', seed: 2 });
    await writer.gc();
    await assert.rejects(
      reader.readBlob(d),
      (e: unknown) =>
        isProvenantError(e, 'NOT_FOUND') &&
        e.message ===
          `blob ${digest} is not in the layout: a gc running at the same time may have removed it (index.json changed since this command read it)` &&
        /run the command again/.test(e.hint ?? ''),
    );
  });

  it('says a blob a gc that died left in its trash is there, and how to put it back, until that is done', async () => {
    const dir = join(await tempDir(), 'img');
    const writer = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(writer, { tag: 'app', seed: 3 });
    await writer.close();
    const [digest, bytes] = [...made.blobs].find(([d]) => d !== made.root.digest && !made.manifests.some((m) => m.digest === d))!;
    const d = { mediaType: 'application/octet-stream', digest: digest as Digest, size: bytes.length };
    // As a gc leaves it when it dies between moving a blob aside and putting it back.
    fs.mkdirSync(join(dir, '.provenant-gc-trash', 'sha256'), { recursive: true });
    fs.renameSync(join(dir, 'blobs', 'sha256', digestHex(d.digest)), join(dir, '.provenant-gc-trash', 'sha256', digestHex(d.digest)));
    const trashed = (e: unknown) =>
      isProvenantError(e, 'NOT_FOUND') &&
      e.message === `blob ${digest} is not in the layout: it is in .provenant-gc-trash/, where a gc moves blobs before deleting them` &&
      (e.hint ?? '').includes(`run \`provenant gc oci:${dir}\``);
    // Reading again, with a fresh reader, finds the trash as it was: the same words, not "run the command again".
    for (let i = 0; i < 2; i++) await assert.rejects((await LayoutStore.open(dir)).readBlob(d), trashed);
    const result = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual(result.removed, []);
    assert.deepEqual(await collect(await (await LayoutStore.open(dir)).readBlob(d), 1 << 24, 'test'), bytes);
    assert.equal(fs.existsSync(join(dir, '.provenant-gc-trash')), false);
  });

  it('gc leaves a folder named like a blob where it is, says so, and still collects the rest, leaving no trash', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    await makeImage(store, { tag: 'v1' });
    const orphan = new TextEncoder().encode('nobody references this');
    const od = digestOf(orphan);
    await store.putBlob(bytesSource({ mediaType: 'application/octet-stream', digest: od, size: orphan.length }, orphan));
    const folder = join(dir, 'blobs', 'sha256', 'a'.repeat(64));
    fs.mkdirSync(folder);
    const warnings: string[] = [];
    const result = await store.gc({ logger: { debug() {}, info() {}, warn: (m: string) => warnings.push(m) } });
    assert.deepEqual(result.removed, [od]);
    assert.ok(fs.statSync(folder).isDirectory(), 'the folder is left');
    assert.deepEqual(warnings, [`${folder} is not a file, so not a blob: gc leaves it; remove it if it is not yours`]);
    assert.deepEqual(
      fs.readdirSync(dir).filter((n) => n.startsWith('.provenant-gc')),
      [],
    );
  });

  it('a discarded new layout takes away the folders above it that it made, and a file in its place is a typed error', async () => {
    const base = await tempDir();
    fs.mkdirSync(join(base, 'kept'));
    for (const path of [join(base, 'deep', 'a', 'b'), join(base, 'kept', 'a', 'b')]) {
      const store = await LayoutStore.open(path, { create: true });
      await store.close({ discard: true });
    }
    assert.deepEqual(fs.readdirSync(base), ['kept']);
    assert.deepEqual(fs.readdirSync(join(base, 'kept')), []);
    const file = join(base, 'afile');
    await writeFile(file, 'x');
    for (const path of [file, join(file, 'sub')]) {
      for (const create of [true, false]) {
        await assert.rejects(
          LayoutStore.open(path, { create }),
          (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && e.message === `${path} is not a folder: a file stands at it or above it`,
        );
      }
    }
    assert.deepEqual(fs.readdirSync(base).sort(), ['afile', 'kept']);
    assert.equal(await readFile(file, 'utf8'), 'x');
  });

  it('refuses an index.json nested too deep to write back, and writes one nested a little', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const index = await readFile(join(dir, 'index.json'), 'utf8');
    const nested = (depth: number) => `${index.slice(0, -1)},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    await writeFile(join(dir, 'index.json'), nested(100_000));
    await assert.rejects(LayoutStore.open(dir), (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /nested/.test(e.message));
    await assert.rejects(
      store.putManifest(made.root, { tags: ['v2'] }),
      (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /nested/.test(e.message),
    );
    // Unknown fields are kept as they are when they are nested as JSON usually is.
    await writeFile(join(dir, 'index.json'), nested(50));
    await (await LayoutStore.open(dir)).putManifest(made.root, { tags: ['v2'] });
    assert.deepEqual(await (await LayoutStore.open(dir)).listTags(), ['v1', 'v2']);
  });

  it('gives typed errors for a missing or broken layout', async () => {
    const base = await tempDir();
    await assert.rejects(LayoutStore.open(join(base, 'nope')), (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.hint !== undefined);
    await writeFile(join(base, 'file'), 'x');
    await assert.rejects(LayoutStore.open(base, { create: true }), (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT'));
    const broken = join(base, 'broken');
    await LayoutStore.open(broken, { create: true });
    await writeFile(join(broken, 'index.json'), '{"schemaVersion":2,"manifests":[{"mediaType":"x"}]}');
    await assert.rejects(LayoutStore.open(broken), (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /manifests\/0/.test(e.message));
    const store = await LayoutStore.open(join(base, 'empty'), { create: true });
    await assert.rejects(store.getManifest('latest'), (e: unknown) => isProvenantError(e, 'NOT_FOUND') && /tag latest/.test(e.message));
  });
});

// A crafted layout (one unpacked from an archive, or handed over) may hold links where the store
// keeps its own folders: through them, copy and gc moved and deleted hex-named files of the host.
describe('LayoutStore with a linked folder of its own', () => {
  /** A folder outside the layout that looks like a blobs folder: one file named by its digest. */
  async function victim(base: string): Promise<{ dir: string; file: string }> {
    const dir = join(base, 'victim');
    const bytes = new TextEncoder().encode('a file of the host\n');
    const file = join(dir, 'sha256', digestHex(digestOf(bytes)));
    fs.mkdirSync(join(dir, 'sha256'), { recursive: true });
    await writeFile(file, bytes);
    return { dir, file };
  }
  const unsafe = (path: string, dir: string) => (e: unknown) =>
    isProvenantError(e, 'UNSAFE_PATH') && e.message.includes(path) && e.where === `oci:${dir}`;

  it('refuses a linked gc trash before a copy moves files out of where it points', async () => {
    const base = await tempDir();
    const dir = join(base, 'img');
    const made = await makeImage(await LayoutStore.open(dir, { create: true }), { tag: 'v1' });
    const { dir: outside, file } = await victim(base);
    fs.symlinkSync(outside, join(dir, '.provenant-gc-trash'));
    const store = await LayoutStore.open(dir);
    await assert.rejects(store.putManifest(made.root, { tags: ['v2'] }), unsafe(join(dir, '.provenant-gc-trash'), dir));
    assert.ok(fs.existsSync(file), 'the file where the link points stays');
    assert.deepEqual(await store.listTags(), ['v1']);
    await assert.rejects(store.gc(), unsafe(join(dir, '.provenant-gc-trash'), dir));
    assert.ok(fs.existsSync(file));
    // A linked algorithm folder inside a real trash is refused too.
    fs.rmSync(join(dir, '.provenant-gc-trash'));
    fs.mkdirSync(join(dir, '.provenant-gc-trash'));
    fs.symlinkSync(join(outside, 'sha256'), join(dir, '.provenant-gc-trash', 'sha256'));
    await assert.rejects(store.gc(), unsafe(join(dir, '.provenant-gc-trash', 'sha256'), dir));
    assert.ok(fs.existsSync(file));
    await store.close();
  });

  it('refuses a linked blobs folder before gc deletes or putBlob writes there', async () => {
    const base = await tempDir();
    const dir = join(base, 'img');
    await LayoutStore.open(dir, { create: true });
    const { dir: outside, file } = await victim(base);
    fs.rmSync(join(dir, 'blobs'), { recursive: true });
    fs.symlinkSync(outside, join(dir, 'blobs'));
    const store = await LayoutStore.open(dir);
    await assert.rejects(store.gc(), unsafe(join(dir, 'blobs'), dir));
    assert.ok(fs.existsSync(file), 'gc deleted nothing where the link points');
    const data = new TextEncoder().encode('new blob');
    const d = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
    await assert.rejects(store.putBlob(bytesSource(d, data)), unsafe(join(dir, 'blobs'), dir));
    assert.deepEqual(fs.readdirSync(join(outside, 'sha256')), [digestHex(digestOf(fs.readFileSync(file)))], 'nothing was written there');
    await store.close();
  });

  it('refuses a linked blobs/<algorithm> folder before gc deletes or putBlob writes there', async () => {
    const base = await tempDir();
    const dir = join(base, 'img');
    await LayoutStore.open(dir, { create: true });
    const { dir: outside, file } = await victim(base);
    fs.rmdirSync(join(dir, 'blobs', 'sha256'));
    fs.symlinkSync(join(outside, 'sha256'), join(dir, 'blobs', 'sha256'));
    const store = await LayoutStore.open(dir);
    await assert.rejects(store.gc(), unsafe(join(dir, 'blobs', 'sha256'), dir));
    assert.ok(fs.existsSync(file));
    const data = new TextEncoder().encode('new blob');
    const d = { mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length };
    await assert.rejects(store.putBlob(bytesSource(d, data)), unsafe(join(dir, 'blobs', 'sha256'), dir));
    assert.equal(fs.readdirSync(join(outside, 'sha256')).length, 1, 'nothing was written there');
    await store.close();
  });
});

/** The digests a manifest's config and layers name. */
function children(stored: Stored): Digest[] {
  return stored.kind === 'manifest' ? [stored.manifest.config.digest, ...stored.manifest.layers.map((l) => l.digest)] : [];
}

/** A signature as cosign 2 stores one: a manifest without a subject, under the tag sha256-<hex>.sig (or .att). */
/** A manifest as `cosign attach sbom` writes it under `sha256-<hex>.sbom`: an OCI config and one layer, the document. */
async function cosignSbom(store: LayoutStore, subject: Digest, mediaType: string): Promise<Stored> {
  const put = async (bytes: Uint8Array, type: string) => {
    const d = { mediaType: type, digest: digestOf(bytes), size: bytes.byteLength };
    await store.putBlob(bytesSource(d, bytes));
    return d;
  };
  const config = await put(
    new TextEncoder().encode('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}'),
    MediaType.OciConfig,
  );
  const layer = await put(new TextEncoder().encode('{"spdxVersion":"SPDX-2.3"}'), mediaType);
  const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
  await store.putManifest(stored, { tags: [cosignTag(subject, 'sbom')] });
  return stored;
}

async function cosignSignature(store: LayoutStore, subject: Digest, payload: string, suffix: 'sig' | 'att' = 'sig'): Promise<Stored> {
  const put = async (bytes: Uint8Array, mediaType: string) => {
    const d = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
    await store.putBlob(bytesSource(d, bytes));
    return d;
  };
  const config = await put(new TextEncoder().encode('{}'), MediaType.OciEmpty);
  const layer = await put(new TextEncoder().encode(payload), 'application/vnd.dev.cosign.simplesigning.v1+json');
  const stored = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
  await store.putManifest(stored, { tags: [cosignTag(subject, suffix)] });
  return stored;
}
