// oci-archive and docker-archive stores: read in place, written whole, and no escape from their folder.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readTar, type TarHeader, type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { bytesSource } from '../../src/io/types.ts';
import { collect } from '../../src/io/verify.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { synth } from '../compat/images.ts';
import { makeImage, makeLayer, sh, toolMissing } from '../helpers/images.ts';
import { makeSandbox, type Sandbox } from '../helpers/sandbox.ts';
import { useTempDir } from '../helpers/temp.ts';

const temp = useTempDir('archive');

function file(name: string, content: string): { header: TarHeader; body: Uint8Array } {
  const body = new TextEncoder().encode(content);
  return {
    header: tarHeader({ name, size: body.length }),
    body,
  };
}

function symlink(name: string, linkname: string): { header: TarHeader } {
  return { header: tarHeader({ name, type: 'symlink', linkname }) };
}

function hardlink(name: string, linkname: string): { header: TarHeader } {
  return { header: tarHeader({ name, type: 'hardlink', linkname }) };
}

const OCI_LAYOUT = file('oci-layout', '{"imageLayoutVersion":"1.0.0"}');
const EMPTY_INDEX = file('index.json', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
// The exploit of issue 9: the second link is reached through the first, so its target, checked
// as text against its name, is really three folders further up.
const CLIMB = [symlink('a/b/c/up', '../../..'), symlink('a/b/c/up/q', '../../..')];

/** Runs `open` on `archive` with TMPDIR in a sandbox; gives what it returned or threw, and the sandbox. */
async function inSandbox<T>(open: () => Promise<T>): Promise<{ outcome: T | unknown; sandbox: Sandbox }> {
  const sandbox = await makeSandbox(await temp());
  const outcome = await sandbox.withTmp(() => open().catch((err: unknown) => err));
  return { outcome, sandbox };
}

async function assertUntouched(sandbox: Sandbox): Promise<void> {
  assert.deepEqual(await sandbox.changes(), [], 'nothing outside the temporary folder is made or changed');
  assert.deepEqual(await sandbox.leftInTmp(), [], 'the temporary folder is left empty');
}

describe('archives', () => {
  it('writes an oci-archive atomically and deterministically, and reads it back', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1' });
    for (const name of ['a.tar', 'b.tar']) {
      const dst = await openOciArchive(join(dir, name), { write: true });
      // Named as the archive (in progress and errors), not as the folder it is written in.
      assert.equal(dst.location, `oci-archive:${join(dir, name)}`);
      await copyImage(src, 'v1', dst, { tags: ['v1'] });
      await dst.close();
    }
    assert.deepEqual(await readFile(join(dir, 'a.tar')), await readFile(join(dir, 'b.tar')));
    // An archive that exists is written the same way.
    const again = await openOciArchive(join(dir, 'a.tar'), { write: true });
    assert.equal(again.location, `oci-archive:${join(dir, 'a.tar')}`);
    await again.close();
    const back = await openOciArchive(join(dir, 'a.tar'));
    assert.deepEqual((await back.getManifest('v1')).bytes, made.root.bytes);
    await back.close();
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'b.tar', 'src']);
  });

  it('writes a docker-archive of manifest.json and blobs alone, the same bytes every time', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const image = made.manifests[0]!;
    for (const name of ['a.tar', 'b.tar']) {
      const dst = await DockerArchiveStore.open(join(dir, name), { write: true });
      await copyImage(src, image.digest, dst, { tags: ['foo:v1'] });
      await dst.close();
    }
    const names: string[] = [];
    for await (const { header, body } of readTar([await readFile(join(dir, 'a.tar'))])) {
      names.push(header.name);
      await collect(body, 1 << 24, 'test');
    }
    const blobs = [...made.blobs.keys()].map((d) => `blobs/sha256/${digestHex(d as `sha256:${string}`)}`);
    assert.deepEqual(names.sort(), [...blobs, 'manifest.json'].sort());
    assert.deepEqual(await readFile(join(dir, 'a.tar')), await readFile(join(dir, 'b.tar')));
  });

  it('never writes a docker-archive over a file that has content, an archive or not', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const image = made.manifests[0]!.digest;
    const write = async (path: string, tag: string) => {
      const dst = await DockerArchiveStore.open(path, { write: true });
      await copyImage(src, image, dst, { tags: [tag] });
      await dst.close();
    };
    const archive = join(dir, 'd.tar');
    await write(archive, 'foo:v1');
    const notes = join(dir, 'notes.txt');
    await writeFile(notes, 'not an archive\n');
    for (const path of [archive, notes]) {
      const before = await readFile(path);
      await assert.rejects(
        write(path, 'bar:v2'),
        (e: unknown) => isProvenantError(e, 'USAGE') && e.where === `docker-archive:${path}` && e.hint !== undefined,
      );
      assert.deepEqual(await readFile(path), before);
    }
    assert.deepEqual(await (await DockerArchiveStore.open(archive)).listTags(), ['foo:v1']);
    // An oci-archive is added to, so a file that is no archive is refused and left as it was too.
    await assert.rejects(openOciArchive(notes, { write: true }), (e: unknown) => isProvenantError(e, 'TRUNCATED', 'INVALID_ARCHIVE'));
    assert.equal(await readFile(notes, 'utf8'), 'not an archive\n');
    // An empty file (as mktemp makes) is new.
    const empty = join(dir, 'empty.tar');
    await writeFile(empty, '');
    await write(empty, 'foo:v1');
    assert.deepEqual(await (await DockerArchiveStore.open(empty)).listTags(), ['foo:v1']);
  });

  it('takes an empty file as a new archive and refuses a folder, in both formats alike', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const empty = join(dir, 'empty.tar');
    await writeFile(empty, '');
    const oci = await openOciArchive(empty, { write: true });
    await copyImage(src, 'v1', oci, { tags: ['v1'] });
    await oci.close();
    assert.deepEqual(await (await openOciArchive(empty)).listTags(), ['v1']);
    const folder = join(dir, 'folder');
    await mkdir(folder);
    const isFolder = (e: unknown) => {
      assert.ok(isProvenantError(e, 'USAGE'), String(e));
      assert.match(e.message, /is a folder, and an archive is one file/);
      assert.equal(e.hint, `name a file (${join(folder, 'image.tar')}), or write the folder as a layout: oci:${folder}`);
      return true;
    };
    await assert.rejects(openOciArchive(folder, { write: true }), isFolder);
    await assert.rejects(DockerArchiveStore.open(folder, { write: true }), isFolder);
    assert.deepEqual(await readdir(folder), []);
  });

  it('refuses entries that would leave the folder, writing nothing outside', async () => {
    const dir = await temp();
    const evil = join(dir, 'evil.tar');
    // Written on purpose (the writer refuses such names otherwise): the reader is what must refuse them.
    const hostile = { unsafeNames: true };
    await writeFile(evil, await tarBytes([file('oci-layout', '{"imageLayoutVersion":"1.0.0"}'), file('../escaped', 'x')], hostile));
    await assert.rejects(openOciArchive(evil), (e: unknown) => isProvenantError(e, 'UNSAFE_PATH'));
    assert.equal(existsSync(join(tmpdir(), 'escaped')), false);
    const abs = join(dir, 'abs.tar');
    await writeFile(abs, await tarBytes([file('/etc/evil', 'x')], hostile));
    await assert.rejects(openOciArchive(abs), (e: unknown) => isProvenantError(e, 'UNSAFE_PATH'));
  });

  it('refuses an oci-archive whose entries climb out through a link reached through a link (issue 9)', async () => {
    const evil = join(await temp(), 'evil.tar');
    await writeFile(evil, await tarBytes([OCI_LAYOUT, EMPTY_INDEX, ...CLIMB, file('a/b/c/up/q/ESCAPED', 'pwned\n')]));
    const { outcome, sandbox } = await inSandbox(async () => {
      const store = await openOciArchive(evil);
      await store.close();
      return 'opened';
    });
    await assertUntouched(sandbox);
    assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), `expected UNSAFE_PATH, got ${String(outcome)}`);
    assert.match(outcome.message, /a\/b\/c\/up/);
  });

  it('refuses a docker-archive whose entries climb out through a link reached through a link (issue 9)', async () => {
    const evil = join(await temp(), 'evil.tar');
    const manifest = file('manifest.json', '[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l.tar"]}]');
    await writeFile(
      evil,
      await tarBytes([manifest, file('c.json', '{}'), file('l.tar', ''), ...CLIMB, file('a/b/c/up/q/ESCAPED', 'pwned\n')]),
    );
    const { outcome, sandbox } = await inSandbox(async () => {
      const store = await DockerArchiveStore.open(evil);
      await store.close();
      return 'opened';
    });
    await assertUntouched(sandbox);
    assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), `expected UNSAFE_PATH, got ${String(outcome)}`);
  });

  it('never reads a host file as a docker-archive layer through links in manifest.json', async () => {
    const evil = join(await temp(), 'evil.tar');
    // `secret` is a canary three folders above the unpack folder; no entry of the archive names it.
    const manifest = file('manifest.json', '[{"Config":"a/b/c/up/q/secret","RepoTags":["x:1"],"Layers":["a/b/c/up/q/secret"]}]');
    await writeFile(evil, await tarBytes([manifest, ...CLIMB]));
    const { outcome, sandbox } = await inSandbox(async () => {
      const store = await DockerArchiveStore.open(evil);
      try {
        const stored = await store.getManifest(await store.defaultTarget());
        return stored.kind === 'manifest' ? [stored.manifest.config.digest, ...stored.manifest.layers.map((l) => l.digest)] : [];
      } finally {
        await store.close();
      }
    });
    await assertUntouched(sandbox);
    if (Array.isArray(outcome)) {
      assert.deepEqual(
        outcome.filter((d) => sandbox.canaryDigests.has(d)),
        [],
        'no blob of the store is a file of the host',
      );
    }
    assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), `expected UNSAFE_PATH, got ${String(outcome)}`);
  });

  it('gives a typed error for a link to an absolute path (blobs -> /tmp), in both formats', async () => {
    const dir = await temp();
    const oci = join(dir, 'oci.tar');
    await writeFile(oci, await tarBytes([OCI_LAYOUT, EMPTY_INDEX, symlink('blobs', '/tmp'), file('blobs/sha256/x', 'x')]));
    const docker = join(dir, 'docker.tar');
    await writeFile(
      docker,
      await tarBytes([
        symlink('blobs', '/tmp'),
        file('blobs/c.json', '{}'),
        file('manifest.json', '[{"Config":"blobs/c.json","Layers":[]}]'),
      ]),
    );
    const openers: Array<() => Promise<ContentStore>> = [() => openOciArchive(oci), () => DockerArchiveStore.open(docker)];
    for (const open of openers) {
      const { outcome, sandbox } = await inSandbox(open);
      await assertUntouched(sandbox);
      assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), `expected UNSAFE_PATH, got ${(outcome as Error)?.stack ?? String(outcome)}`);
      assert.match(outcome.message, /\/tmp/);
    }
  });

  it('refuses hardlinks and symlinks whose targets leave the archive', async () => {
    const dir = await temp();
    const cases: Array<{ header: TarHeader }> = [
      hardlink('blobs/sha256/h', '../outside'),
      hardlink('blobs/sha256/h', '/etc/passwd'),
      symlink('blobs/sha256/s', '../../../outside'),
      symlink('blobs/sha256/s', '/etc/passwd'),
    ];
    for (const [i, link] of cases.entries()) {
      const path = join(dir, `link-${i}.tar`);
      await writeFile(path, await tarBytes([OCI_LAYOUT, EMPTY_INDEX, link]));
      const { outcome, sandbox } = await inSandbox(() => openOciArchive(path));
      await assertUntouched(sandbox);
      assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), `${link.header.name} -> ${link.header.linkname}: got ${String(outcome)}`);
    }
  });

  it('reads docker save layers reached through symlinks, hardlinks and a linked folder inside the archive', async () => {
    const dir = await temp();
    const layer = new TextEncoder().encode('layer bytes, not gzip\n');
    const config = new TextEncoder().encode('{"architecture":"amd64","os":"linux"}');
    const [lh, ch] = [digestHex(digestOf(layer)), digestHex(digestOf(config))];
    const manifest = [
      { Config: `cfg/${ch}`, RepoTags: ['example.com/x:1'], Layers: ['abc/layer.tar', 'def/layer.tar', `blobs/sha256/${lh}`] },
    ];
    const path = join(dir, 'saved.tar');
    await writeFile(
      path,
      await tarBytes([
        { header: tarHeader({ name: 'blobs/', type: 'dir', mode: 0o755 }) },
        { header: tarHeader({ name: `blobs/sha256/${lh}`, size: layer.length }), body: layer },
        { header: tarHeader({ name: `./blobs/sha256/${ch}`, size: config.length }), body: config },
        symlink('abc/layer.tar', `../blobs/sha256/${lh}`), // docker save's legacy layer folders
        hardlink('def/layer.tar', `blobs/sha256/${lh}`),
        symlink('cfg', 'blobs/sha256'),
        file('manifest.json', JSON.stringify(manifest)),
      ]),
    );
    const { outcome, sandbox } = await inSandbox(async () => {
      const store = await DockerArchiveStore.open(path);
      const m = await store.getManifest('example.com/x:1');
      assert.ok(m.kind === 'manifest');
      assert.equal(m.manifest.config.digest, digestOf(config));
      assert.deepEqual(
        m.manifest.layers.map((l) => l.digest),
        [digestOf(layer), digestOf(layer), digestOf(layer)],
      );
      const d = m.manifest.layers[0]!;
      assert.deepEqual(await collect(await store.readBlob(d), 1 << 20, 'test'), layer);
      assert.deepEqual(await collect(await store.readBlob(d, { offset: 6 }), 1 << 20, 'test'), layer.subarray(6));
      await store.close();
      return 'read';
    });
    assert.equal(outcome, 'read', String((outcome as Error)?.stack ?? outcome));
    await assertUntouched(sandbox);
  });

  it('finds a docker-archive image by its exact name before one whose name ends the same, and refuses an ambiguous ending', async () => {
    const dir = await temp();
    const layer = new TextEncoder().encode('layer\n');
    const members = [{ header: tarHeader({ name: `blobs/sha256/${digestHex(digestOf(layer))}`, size: layer.length }), body: layer }];
    const images: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
    const configs = new Map<string, string>();
    for (const [i, tags] of [
      ['registry.example/evil/foo:v1'],
      ['foo:v1'],
      ['docker.io/library/bar:v2'],
      ['a.example/baz:v3'],
      ['b.example/baz:v3'],
    ].entries()) {
      const config = new TextEncoder().encode(`{"architecture":"amd64","os":"linux","comment":"${i}"}`);
      const name = `blobs/sha256/${digestHex(digestOf(config))}`;
      members.push({ header: tarHeader({ name, size: config.length }), body: config });
      images.push({ Config: name, RepoTags: tags, Layers: [members[0]!.header.name] });
      configs.set(tags[0]!, digestOf(config));
    }
    const path = join(dir, 'd.tar');
    await writeFile(path, await tarBytes([...members, file('manifest.json', JSON.stringify(images))]));
    const store = await DockerArchiveStore.open(path);
    const config = async (target: string) => {
      const m = await store.getManifest(target);
      return m.kind === 'manifest' ? m.manifest.config.digest : undefined;
    };
    assert.equal(await config('foo:v1'), configs.get('foo:v1'));
    assert.equal(await config('docker.io/library/foo:v1'), configs.get('foo:v1'));
    assert.equal(await config('registry.example/evil/foo:v1'), configs.get('registry.example/evil/foo:v1'));
    assert.equal(await config('bar:v2'), configs.get('docker.io/library/bar:v2'));
    // An ending is taken when one image alone has it, never guessed among several.
    assert.equal(await config('evil/foo:v1'), configs.get('registry.example/evil/foo:v1'));
    await assert.rejects(
      store.getManifest('baz:v3'),
      (e: unknown) => isProvenantError(e, 'USAGE') && e.hint?.includes('a.example/baz:v3') === true && e.hint.includes('b.example/baz:v3'),
    );
    await store.close();
  });

  it('takes the last of repeated entries, as tar extraction does', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    await makeImage(src, { tag: 'v1' });
    const first = await openOciArchive(join(dir, 'a.tar'), { write: true });
    await copyImage(src, 'v1', first, { tags: ['v1'] });
    await first.close();
    const entries: TarWriteEntry[] = [];
    for await (const { header, body } of readTar([await readFile(join(dir, 'a.tar'))])) {
      entries.push({ header, body: await collect(body, 1 << 24, 'test') });
    }
    const index = JSON.parse(new TextDecoder().decode(entries.find((e) => e.header.name === 'index.json')!.body as Uint8Array));
    index.manifests[0].annotations['org.opencontainers.image.ref.name'] = 'v2';
    const again = new TextEncoder().encode(JSON.stringify(index));
    entries.push({ header: tarHeader({ name: './index.json', size: again.length }), body: again });
    await writeFile(join(dir, 'twice.tar'), await tarBytes(entries));
    const store = await openOciArchive(join(dir, 'twice.tar'));
    assert.deepEqual(await store.listTags(), ['v2']);
    assert.equal((await store.getManifest('v2')).digest, (await src.getManifest('v1')).digest);
    await store.close();
  });

  it('adds to an existing oci-archive, copying its blobs by digest and keeping its index', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1' });
    const other = await makeImage(src, { tag: 'v2', seed: 99, platforms: [{ os: 'linux', architecture: 'riscv64' }] });
    const path = join(dir, 'a.tar');
    let store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();
    const reader = await openOciArchive(path);
    await assert.rejects(reader.putManifest(made.root, { tags: ['x'] }), (e: unknown) => isProvenantError(e, 'USAGE'));
    await reader.close();
    store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v2', store, { tags: ['v2'] });
    await store.close();
    const back = await openOciArchive(path);
    assert.deepEqual(await back.listTags(), ['v1', 'v2']);
    assert.deepEqual((await back.getManifest('v1')).bytes, made.root.bytes);
    assert.deepEqual((await back.getManifest('v2')).bytes, other.root.bytes);
    for (const [digest, bytes] of [...made.blobs, ...other.blobs]) {
      const d = { mediaType: 'application/octet-stream', digest: digest as `sha256:${string}`, size: bytes.length };
      assert.deepEqual(await collect(await back.readBlob(d), 1 << 24, 'test'), bytes);
    }
    await back.close();
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'src']);
  });

  it('refuses to write sha512 content into a docker-archive, which names content by sha256 alone', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const put = async (bytes: Uint8Array, mediaType: string) => {
      const d = { mediaType, digest: digestOf(bytes, 'sha512'), size: bytes.length };
      await src.putBlob(bytesSource(d, bytes));
      return d;
    };
    const layer = await put(makeLayer('a', new TextEncoder().encode('hi')).gz, MediaType.OciLayerGzip);
    const config = await put(
      new TextEncoder().encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
      MediaType.OciConfig,
    );
    const image = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }));
    await src.putManifest(image, { tags: ['v1'] });
    const out = join(dir, 'd.tar');
    const dst = await DockerArchiveStore.open(out, { write: true });
    await assert.rejects(copyImage(src, 'v1', dst, { tags: ['foo:v1'] }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'INCOMPATIBLE'), String(e));
      assert.match(e.message, /sha256 content only.*sha512:[0-9a-f]{128}/);
      assert.equal(e.where, `docker-archive:${out}`);
      assert.match(e.hint ?? '', /oci-archive:FILE/);
      return true;
    });
    // The manifest alone, its blobs already there (as a store other than copy may put it), too.
    await assert.rejects(dst.putManifest(image, { tags: ['foo:v1'] }), (e: unknown) => isProvenantError(e, 'INCOMPATIBLE'));
    await dst.close();
    assert.equal(existsSync(out), false);
  });

  it('refuses an image with a foreign layer for a docker-archive, which must hold every layer file, writing nothing', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const put = async (bytes: Uint8Array, mediaType: string) => {
      const d = { mediaType, digest: digestOf(bytes), size: bytes.length };
      await src.putBlob(bytesSource(d, bytes));
      return d;
    };
    const local = makeLayer('a', new TextEncoder().encode('hi'));
    const away = makeLayer('b', new TextEncoder().encode('foreign'));
    const layer = await put(local.gz, MediaType.DockerLayerGzip);
    // Named by the manifest, never stored: it lives at its URL.
    const foreign = {
      mediaType: MediaType.DockerForeignLayerGzip,
      digest: digestOf(away.gz),
      size: away.gz.length,
      urls: ['https://example.org/layer.tar.gz'],
    };
    const config = await put(
      encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(local.tar), digestOf(away.tar)] } }),
      MediaType.DockerConfig,
    );
    const image = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers: [layer, foreign] }));
    await src.putManifest(image, { tags: ['v1'] });
    const out = join(dir, 'f.tar');
    const dst = await DockerArchiveStore.open(out, { write: true });
    await assert.rejects(copyImage(src, 'v1', dst, { tags: ['foo:v1'] }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'INCOMPATIBLE'), String(e));
      assert.match(e.message, new RegExp(`${foreign.digest} is foreign`));
      assert.equal(e.where, `docker-archive:${out}`);
      return true;
    });
    await dst.close();
    assert.equal(existsSync(out), false);
    // An oci-archive keeps it as a descriptor with its URLs.
    const oci = await openOciArchive(join(dir, 'f.oci.tar'), { write: true });
    await copyImage(src, 'v1', oci, { tags: ['v1'] });
    await oci.close();
    assert.deepEqual((await (await openOciArchive(join(dir, 'f.oci.tar'))).getManifest('v1')).bytes, image.bytes);
  });

  it('labels a zstd layer of a docker-archive as zstd, written and read back, as skopeo unpacks it', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await synth(src, { layer: 'zstd' });
    const layer = made.root.kind === 'manifest' ? made.root.manifest.layers[0]! : undefined;
    assert.equal(layer?.mediaType, MediaType.OciLayerZstd);
    const out = join(dir, 'z.tar');
    const dst = await DockerArchiveStore.open(out, { write: true });
    const copied = await copyImage(src, 'v1', dst, { tags: ['z:v1'] });
    const predicted = await dst.getManifest('z:v1');
    await dst.close();
    const back = await DockerArchiveStore.open(out);
    const read = await back.getManifest('z:v1');
    assert.equal(read.kind, 'manifest');
    if (read.kind !== 'manifest') return;
    assert.deepEqual(
      read.manifest.layers.map((l) => [l.mediaType, l.digest]),
      [['application/vnd.docker.image.rootfs.diff.tar.zstd', layer!.digest]],
    );
    assert.equal(read.digest, predicted.digest, 'what the writer said is what a reader finds');
    // copyImage says the digest the archive holds, and the image's own as `copied`.
    assert.equal(copied.digest, read.digest);
    assert.equal(copied.copied, made.root.digest);
    if (toolMissing('skopeo')) return;
    // skopeo presents each layer of a docker-archive unpacked: the diff_id, found only by unzstd.
    const raw = sh('skopeo', ['inspect', '--raw', `docker-archive:${out}`]);
    assert.equal(raw.status, 0, raw.stderr);
    const config = JSON.parse(new TextDecoder().decode(await collect(await back.readBlob(read.manifest.config), 1 << 20, 'config'))) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(
      (JSON.parse(raw.stdout) as { layers: { digest: string }[] }).layers.map((l) => l.digest),
      config.rootfs.diff_ids,
    );
  });

  it("keeps a rewritten archive's permission bits: a private archive stays private", async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const oci = join(dir, 'a.tar');
    let store = await openOciArchive(oci, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();
    for (const mode of [0o600, 0o640]) {
      await chmod(oci, mode);
      store = await openOciArchive(oci, { write: true });
      await copyImage(src, 'v1', store, { tags: [`v${mode.toString(8)}`] });
      await store.close();
      assert.equal((await stat(oci)).mode & 0o777, mode);
    }
    assert.deepEqual(await (await openOciArchive(oci)).listTags(), ['v1', 'v600', 'v640']);
    // A docker-archive written into the empty file mktemp made (0600) keeps it private too.
    const docker = join(dir, 'd.tar');
    await writeFile(docker, '', { mode: 0o600 });
    const dst = await DockerArchiveStore.open(docker, { write: true });
    await copyImage(src, made.manifests[0]!.digest, dst, { tags: ['foo:v1'] });
    await dst.close();
    assert.equal((await stat(docker)).mode & 0o777, 0o600);
  });

  it('keeps every tag when writers of one oci-archive overlap, and leaves no lock behind', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const tags = ['v1', 'v2', 'v3'];
    for (const [i, tag] of tags.entries()) {
      await makeImage(src, { tag, seed: 10 * (i + 1), platforms: [{ os: 'linux', architecture: 'amd64' }] });
    }
    const path = join(dir, 'a.tar');
    // Each opens before any has closed: each would read the same (missing) old archive.
    await Promise.all(
      tags.map(async (tag) => {
        const store = await openOciArchive(path, { write: true });
        await copyImage(src, tag, store, { tags: [tag] });
        await store.close();
      }),
    );
    const back = await openOciArchive(path);
    assert.deepEqual(await back.listTags(), tags);
    await back.close();
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'src']);
    // A long name (235 bytes: with the lock's prefix it would pass the 255-byte limit) still has one.
    const long = join(dir, `${'a'.repeat(231)}.tar`);
    const store = await openOciArchive(long, { write: true });
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();
    assert.deepEqual(await (await openOciArchive(long)).listTags(), ['v1']);
  });

  it('fails, leaving the archive as the other made it, when a program without the lock replaces it meanwhile', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    for (const [i, tag] of ['v1', 'v2'].entries()) {
      await makeImage(src, { tag, seed: 10 * (i + 1), platforms: [{ os: 'linux', architecture: 'amd64' }] });
    }
    const [path, theirs] = [join(dir, 'a.tar'), join(dir, 'theirs.tar')];
    for (const [file, tag] of [
      [path, 'v1'],
      [theirs, 'v2'],
    ] as const) {
      const store = await openOciArchive(file, { write: true });
      await copyImage(src, tag, store, { tags: [tag] });
      await store.close();
    }
    const store = await openOciArchive(path, { write: true });
    await copyImage(src, 'v2', store, { tags: ['mine'] });
    // As skopeo would: a new file renamed over the archive, no lock taken.
    await copyFile(theirs, `${path}.new`);
    await rename(`${path}.new`, path);
    await assert.rejects(store.close(), (e: unknown) => isProvenantError(e, 'IO') && e.where === `oci-archive:${path}`);
    assert.deepEqual(await readFile(path), await readFile(theirs));
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'src', 'theirs.tar']);
  });

  it('refuses the second of two overlapping docker-archive writers of one file, keeping the first', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const path = join(dir, 'd.tar');
    const outcomes = await Promise.allSettled(
      ['foo:v1', 'bar:v2'].map(async (tag) => {
        const store = await DockerArchiveStore.open(path, { write: true });
        await copyImage(src, made.manifests[0]!.digest, store, { tags: [tag] });
        await store.close();
        return tag;
      }),
    );
    const written = outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value);
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason);
    assert.equal(written.length, 1);
    assert.ok(refused.length === 1 && isProvenantError(refused[0], 'USAGE'), String(refused[0]));
    assert.deepEqual(await (await DockerArchiveStore.open(path)).listTags(), written);
    assert.deepEqual((await readdir(dir)).sort(), ['d.tar', 'src']);
  });

  it('leaves a hostile archive opened for writing as it was, and no temporary folder', async () => {
    const evil = join(await temp(), 'evil.tar');
    const bytes = await tarBytes([OCI_LAYOUT, EMPTY_INDEX, ...CLIMB, file('a/b/c/up/q/ESCAPED', 'pwned\n')]);
    await writeFile(evil, bytes);
    const { outcome, sandbox } = await inSandbox(() => openOciArchive(evil, { write: true }));
    await assertUntouched(sandbox);
    assert.ok(isProvenantError(outcome, 'UNSAFE_PATH'), String(outcome));
    assert.deepEqual(await readFile(evil), Buffer.from(bytes));
  });

  it('refuses link loops, devices and archives that are not layouts, with typed errors', async () => {
    const dir = await temp();
    const cases: Array<[string, TarWriteEntry[], string, RegExp]> = [
      ['loop', [OCI_LAYOUT, symlink('a', 'b'), symlink('b', 'a'), EMPTY_INDEX], 'INVALID_ARCHIVE', /loop/],
      ['self', [OCI_LAYOUT, hardlink('index.json', 'index.json')], 'INVALID_ARCHIVE', /loop/],
      [
        'device',
        [OCI_LAYOUT, EMPTY_INDEX, { header: tarHeader({ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }) }],
        'INVALID_ARCHIVE',
        /char/,
      ],
      ['fifo', [OCI_LAYOUT, EMPTY_INDEX, { header: tarHeader({ name: 'p', type: 'fifo' }) }], 'INVALID_ARCHIVE', /fifo/],
      ['beneath a file', [OCI_LAYOUT, EMPTY_INDEX, file('blobs', 'x'), file('blobs/sha256/x', 'x')], 'INVALID_ARCHIVE', /beneath the file/],
      ['root link', [symlink('./', 'a'), OCI_LAYOUT, EMPTY_INDEX], 'UNSAFE_PATH', /root/],
      ['no layout', [EMPTY_INDEX], 'INVALID_ARCHIVE', /oci-layout/],
      ['dangling', [OCI_LAYOUT, symlink('index.json', 'nowhere')], 'INVALID_ARCHIVE', /index\.json/],
      ['empty', [], 'INVALID_ARCHIVE', /empty/],
    ];
    for (const [name, entries, code, message] of cases) {
      const path = join(dir, `${name}.tar`);
      await writeFile(path, await tarBytes(entries));
      await assert.rejects(openOciArchive(path), (e: unknown) => {
        assert.ok(isProvenantError(e), `${name}: ${String(e)}`);
        assert.equal(e.code, code, `${name}: ${e.message}`);
        assert.match(e.message, message, name);
        return true;
      });
    }
  });

  it('says a truncated archive is truncated', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    await makeImage(src, { tag: 'v1' });
    const dst = await openOciArchive(join(dir, 'full.tar'), { write: true });
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    await dst.close();
    const bytes = await readFile(join(dir, 'full.tar'));
    await writeFile(join(dir, 'cut.tar'), bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
    await assert.rejects(openOciArchive(join(dir, 'cut.tar')), (e: unknown) => isProvenantError(e, 'TRUNCATED') && e.where !== undefined);
  });

  it('gives typed errors for a docker-archive without a usable manifest.json', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'none.tar'), await tarBytes([file('x', 'y')]));
    await assert.rejects(
      DockerArchiveStore.open(join(dir, 'none.tar')),
      (e: unknown) => isProvenantError(e, 'INVALID_ARCHIVE') && /manifest\.json/.test(e.message),
    );
    await writeFile(
      join(dir, 'missing.tar'),
      await tarBytes([file('manifest.json', '[{"Config":"c.json","RepoTags":null,"Layers":["l.tar"]}]')]),
    );
    await assert.rejects(
      DockerArchiveStore.open(join(dir, 'missing.tar')),
      (e: unknown) => isProvenantError(e, 'INVALID_ARCHIVE') && /c\.json/.test(e.message),
    );
  });
});
