import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { diffImages } from '../../src/image/diff.ts';
import { CREATED_ANNOTATION } from '../../src/image/diff-config.ts';
import { TEXT_DIFF_BUDGET } from '../../src/image/diff-files.ts';
import { renderDiff } from '../../src/image/diff-render.ts';
import { applyLayer, LayerFilesystem } from '../../src/image/filesystem.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { Tree } from '../../src/vfs/tree.ts';
import {
  code,
  counting,
  dir,
  type Entry,
  file,
  flatten,
  type Layer,
  layer,
  layout,
  link,
  putImage,
  putIndex,
  removeTemp,
} from './diff-helpers.ts';

after(removeTemp);

// ---- the flattened filesystem ------------------------------------------------------------

describe('the flattened filesystem', () => {
  it('applies whiteouts, opaque whiteouts and replacements as layer.md says', async () => {
    const l0 = await layer([
      dir('a/'),
      file('a/x', 'x'),
      file('a/y', 'y0'),
      dir('a/sub/'),
      file('a/sub/deep', 'd'),
      dir('b/'),
      file('b/z', 'z'),
      file('keep', 'k'),
      dir('c/'),
      file('c/1', '1'),
      dir('c/old/'),
      file('c/old/2', '2'),
      file('f', 'a file that becomes a folder'),
      dir('g/'),
      file('g/inner', 'under a folder that becomes a file'),
      file('h', 'h0'),
    ]);
    const l1 = await layer([
      file('a/.wh.x', ''),
      file('.wh.b', ''),
      // Opaque after a sibling of the same layer: it still hides only what lower layers had.
      file('c/new', 'n'),
      file('c/.wh..wh..opq', ''),
      dir('f/'),
      file('f/child', 'c'),
      file('g', 'now a file'),
      file('a/y', 'y1'),
      // aufs bookkeeping, not a path; and whiteouts that name no entry.
      file('.wh..wh.plnk', ''),
      file('a/.wh.', ''),
      file('a/.wh..', ''),
      // A whiteout hides lower layers only: the `h` of this layer stays.
      file('h', 'h1'),
      file('.wh.h', ''),
    ]);
    const l2 = await layer([file('.wh.keep', ''), dir('b/'), file('b/w', 'w'), link('l', 'a/y')]);
    assert.deepEqual(await flatten([l0, l1, l2]), {
      a: 'dir@0',
      'a/sub': 'dir@0',
      'a/sub/deep': 'file@0',
      'a/y': 'file@1',
      b: 'dir@2',
      'b/w': 'file@2',
      c: 'dir@0',
      'c/new': 'file@1',
      f: 'dir@1',
      'f/child': 'file@1',
      g: 'file@1',
      h: 'file@1',
      l: 'symlink@2',
    });
  });

  it('matches a direct reading of the rules for any sequence of entries (property)', async () => {
    const paths = ['a', 'a/b', 'a/b/c', 'a/d', 'e', 'e/f'];
    const op = fc.record({ kind: fc.constantFrom('file', 'dir', 'wh', 'opq'), path: fc.constantFrom(...paths) });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }), async (layers) => {
        // The oracle: a flat map, every rule read straight from layer.md, subtrees by prefix.
        const model = new Map<string, { type: string; layer: number }>();
        const under = (p: string) => [...model.keys()].filter((k) => k.startsWith(`${p}/`));
        const built: Layer[] = [];
        for (const [k, ops] of layers.entries()) {
          const entries: Entry[] = [];
          for (const o of ops) {
            const slash = o.path.lastIndexOf('/');
            const parent = slash < 0 ? '' : `${o.path.slice(0, slash)}/`;
            const base = o.path.slice(slash + 1);
            if (o.kind === 'file' || o.kind === 'dir') {
              entries.push(o.kind === 'file' ? file(o.path, 'x') : dir(`${o.path}/`));
              const old = model.get(o.path);
              if (old !== undefined && !(old.type === 'dir' && o.kind === 'dir')) {
                model.delete(o.path);
                for (const c of under(o.path)) model.delete(c);
              }
              if (o.kind !== 'dir') for (const c of under(o.path)) model.delete(c);
              model.set(o.path, { type: o.kind, layer: k });
            } else if (o.kind === 'wh') {
              entries.push(file(`${parent}.wh.${base}`, ''));
              for (const c of [o.path, ...under(o.path)]) if ((model.get(c)?.layer ?? k) < k) model.delete(c);
            } else {
              entries.push(file(`${o.path}/.wh..wh..opq`, ''));
              for (const c of under(o.path)) if ((model.get(c)?.layer ?? k) < k) model.delete(c);
            }
          }
          built.push(await layer(entries));
        }
        const expected = Object.fromEntries([...model].sort(([x], [y]) => (x < y ? -1 : 1)).map(([p, r]) => [p, `${r.type}@${r.layer}`]));
        assert.deepEqual(await flatten(built), expected);
      }),
      { numRuns: 60 },
    );
  });

  it("writes through the symlinks among an entry's folders, inside the root, as a runtime does, whiteouts too", async () => {
    const l0 = await layer([
      dir('var/'),
      dir('var/lib/'),
      dir('var/lib/dpkg/'),
      file('var/lib/dpkg/status', 'base-files'),
      dir('var/lib/dpkg/status.d/'),
      file('var/lib/dpkg/status.d/tzdata', 'tzdata'),
      file('var/lib/dpkg/status.d/zlib', 'zlib'),
      link('x', 'var/lib/dpkg'),
    ]);
    const l1 = await layer([
      // Through a link of a lower layer, and through links of its own: relative, absolute, and
      // one that climbs above the root (which stops it there, as a chroot would).
      file('x/status', 'openssl'),
      link('d', '/var/lib/dpkg/status.d'),
      file('d/.wh.tzdata', ''),
      link('up', '../../../var/lib'),
      file('up/dpkg/status.d/.wh..wh..opq', ''),
      file('d/new', 'new'),
      // A hardlink's target names the path its entry was recorded at.
      { header: tarHeader({ name: 'hard', type: 'hardlink', linkname: 'x/status' }) },
    ]);
    assert.deepEqual(await flatten([l0, l1]), {
      d: 'symlink@1',
      hard: 'hardlink@1',
      up: 'symlink@1',
      var: 'dir@0',
      'var/lib': 'dir@0',
      'var/lib/dpkg': 'dir@0',
      'var/lib/dpkg/status': 'file@1',
      'var/lib/dpkg/status.d': 'dir@0',
      'var/lib/dpkg/status.d/new': 'file@1',
      x: 'symlink@0',
    });
    const store = await layout();
    for (const l of [l0, l1]) await store.putBlob(bytesSource(l.descriptor, l.bytes));
    const fs = new LayerFilesystem();
    for (const [i, l] of [l0, l1].entries()) await applyLayer(fs, store, l.descriptor, { index: i, keep: () => true });
    assert.equal(new TextDecoder().decode(fs.body('var/lib/dpkg/status')), 'openssl');
    assert.equal(fs.get('var/lib/dpkg/status')?.entryName, 'x/status');
    assert.equal(fs.get('hard')?.linkname, 'var/lib/dpkg/status');
  });

  it('refuses a layer whose entry goes through a symlink loop, as a runtime fails with ELOOP', async () => {
    const loop = await layer([link('a', 'b'), link('b', 'a'), file('a/f', 'x')]);
    await assert.rejects(flatten([loop]), code('UNSAFE_PATH'));
    // Which layer and which entry: the walk alone knows only the path and a folder.
    await assert.rejects(
      flatten([loop]),
      (err: unknown) => isProvenantError(err) && err.where?.includes(`@${loop.descriptor.digest}: a/f (`) === true,
    );
    const self = await layer([link('s', 's/s'), file('s/f', 'x')]);
    await assert.rejects(flatten([self]), code('UNSAFE_PATH'));
  });

  it("puts each entry where the build tree's resolveParent puts it, for any sequence of folders, files and symlinks (property)", async () => {
    const name = fc.constantFrom('a', 'b', 'a/b', 'b/a', 'a/b/c', 'c');
    const target = fc.constantFrom('a', 'b', '/a', '/a/b', '..', '../a', '../../b', '.', 'a/..', 'c/a');
    const op = fc.oneof(
      fc.record({ kind: fc.constantFrom('file' as const, 'dir' as const), path: name }),
      fc.record({ kind: fc.constant('symlink' as const), path: name, target }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 10 }), async (ops) => {
        // The oracle: ../../src/vfs/tree.ts, as a build installs packages. It refuses what a
        // layer may do and a build may not (a folder with contents replaced, a file as a
        // folder): the ops up to the first it refuses are compared.
        const tree = new Tree();
        const entries: Entry[] = [];
        for (const o of ops) {
          const node = { type: o.kind, mode: 0o755, uid: 0, gid: 0, mtime: 0, ...(o.kind === 'symlink' ? { linkname: o.target } : {}) };
          try {
            tree.put(o.path, node);
          } catch (err) {
            if (isProvenantError(err)) break;
            throw err;
          }
          entries.push(o.kind === 'symlink' ? link(o.path, o.target) : o.kind === 'file' ? file(o.path, 'x') : dir(`${o.path}/`));
        }
        const expected: Record<string, string> = {};
        for (const p of tree.paths()) expected[p] = tree.get(p)?.type ?? '';
        const got: Record<string, string> = {};
        for (const [p, d] of Object.entries(await flatten([await layer(entries)]))) {
          got[p] = d.replace(/@0$/, '');
          // The tree makes the folders above a path; a layer only implies them.
          for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) got[p.slice(0, i)] ??= 'dir';
        }
        assert.deepEqual(got, expected);
      }),
      { numRuns: 120 },
    );
  });

  it('refuses an entry that climbs out of the root, and a layer that is not its diff_id', async () => {
    await assert.rejects(flatten([await layer([file('../escape', 'x')])]), code('UNSAFE_PATH'));
    const l = await layer([file('a', 'x')]);
    await assert.rejects(flatten([{ ...l, diffId: digestOf('something else') }]), code('DIGEST_MISMATCH'));
  });

  it('replaces, whites out and hides a path 1,000 folders deep, and refuses one of 20,000', async () => {
    // A layer's names are refused past 1,024 parts or 4,096 bytes (cleanEntryPath): the deepest
    // path one may name is handled whole, without a string for each of its folders.
    await assert.rejects(
      flatten([await layer([file(`${Array.from({ length: 20_000 }, () => 'a').join('/')}/f`, 'x')])]),
      code('UNSAFE_PATH'),
    );
    const deep = Array.from({ length: 1_000 }, () => 'a').join('/');
    assert.deepEqual(await flatten([await layer([file(`${deep}/f`, 'x'), file('a', 'now a file')])]), { a: 'file@0' });
    assert.deepEqual(await flatten([await layer([file(`${deep}/f`, 'x')]), await layer([file('.wh.a', '')])]), {});
    assert.deepEqual(await flatten([await layer([file(`${deep}/f`, 'x'), file('b', 'y')]), await layer([file('.wh..wh..opq', '')])]), {});
    const store = await layout();
    const l = await layer([file(`${deep}/f`, 'x'), file(`${deep}/g`, 'y'), file('a', 'z')]);
    await store.putBlob(bytesSource(l.descriptor, l.bytes));
    const fs = new LayerFilesystem();
    await applyLayer(fs, store, l.descriptor, { index: 0 });
    // Nothing is left of the chain of folders either: the file and the root's list of it.
    assert.deepEqual([fs.size, fs.nodes], [1, 2]);
  });

  it('holds kept bodies and paths within its limits, and frees what a later layer replaces or whites out', async () => {
    const store = await layout();
    const fsOf = async (limits: ConstructorParameters<typeof LayerFilesystem>[0], layers: Layer[]) => {
      const fs = new LayerFilesystem(limits);
      for (const l of layers) await store.putBlob(bytesSource(l.descriptor, l.bytes));
      for (const [i, l] of layers.entries()) {
        await applyLayer(fs, store, l.descriptor, { index: i, diffId: l.diffId, keep: (p) => p.startsWith('db/'), where: `layer ${i}` });
      }
      return fs;
    };
    const body = (n: number) => 'x'.repeat(n);
    // One file past the per-file limit, refused before its body is read, naming the layer and path.
    await assert.rejects(fsOf({ keptFile: 100 }, [await layer([file('db/big', body(101))])]), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'));
      assert.equal(err.where, 'layer 0');
      assert.match(err.message, /^db\/big is 101 B, more than the 100 B /);
      return true;
    });
    // Files that fit one by one, but not together; the files that are not kept do not count.
    const three = await layer([file('db/a', body(40)), file('db/b', body(40)), file('other', body(90)), file('db/c', body(40))]);
    await assert.rejects(
      fsOf({ keptBytes: 100 }, [three]),
      (err) => isProvenantError(err, 'TOO_LARGE') && /^db\/c \(40 B\)/.test(err.message),
    );
    // A replaced body and a whited-out one no longer count.
    const fs = await fsOf({ keptBytes: 100 }, [
      await layer([file('db/a', body(40)), file('db/b', body(40))]),
      await layer([file('db/a', body(10)), file('db/.wh.b', '')]),
      await layer([file('db/c', body(80))]),
    ]);
    assert.equal(fs.keptBytes, 90);
    assert.deepEqual(fs.keptPaths().sort(), ['db/a', 'db/c']);
    // Paths, with the folders they imply; a path already there costs nothing more.
    const many = await layer(Array.from({ length: 12 }, (_, i) => file(`d/f${i}`, '')));
    await assert.rejects(
      fsOf({ paths: 10 }, [many]),
      (err) => isProvenantError(err, 'TOO_LARGE') && /more than 10 paths/.test(err.message),
    );
    const again = await layer(Array.from({ length: 12 }, () => file('d/f', '')));
    assert.equal((await fsOf({ paths: 3 }, [again])).size, 1);
  });

  it('fails on corrupt layers with a typed error only (property)', async () => {
    const store = await layout();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.boolean(), async (bytes, gzip) => {
        const body = gzip ? new Uint8Array(zlib.gzipSync(bytes)) : bytes;
        const d: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(body), size: body.length };
        await store.putBlob(bytesSource(d, body));
        try {
          await applyLayer(new LayerFilesystem(), store, d, { index: 0 });
        } catch (err) {
          assert.ok(isProvenantError(err), `not a ProvenantError: ${err}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('diff of images made layer by layer', () => {
  it('with ignoreTimestamps, takes manifests that differ only where timestamps go as identical, and no others', async () => {
    const store = await layout();
    const files = (mtime: number) => [file('f', 'f', { mtime }), file('g', 'g', { mtime })] as const;
    const image = async (tag: string, layers: Layer[], created: string) => {
      const annotations = { [CREATED_ANNOTATION]: created, 'org.opencontainers.image.title': 't' };
      const stored = await putImage(store, layers, { tag, extra: { created }, history: [{ created, created_by: 'build' }], annotations });
      await putIndex(store, [{ stored, platform: { os: 'linux', architecture: 'amd64' } }], `${tag}-index`);
    };
    const [f1, g1] = files(1);
    const [f2, g2] = files(2);
    await image('a', [await layer([f1]), await layer([g1])], '1970-01-01T00:00:01Z');
    await image('later', [await layer([f2]), await layer([g2])], '1970-01-01T00:00:02Z');
    // The same files at other times, but g in the first layer; and in zstd layers.
    await image('moved', [await layer([f2, g2]), await layer([])], '1970-01-01T00:00:02Z');
    await image('zstd', [await layer([f2], 'zstd'), await layer([g2], 'zstd')], '1970-01-01T00:00:02Z');
    const diff = (x: string, y: string, ignoreTimestamps: boolean) =>
      diffImages({ store, target: x }, { store, target: y }, { ignoreTimestamps });

    assert.equal((await diff('a', 'later', false)).identical, false);
    for (const [x, y] of [
      ['a', 'later'],
      ['a-index', 'later-index'],
    ] as const) {
      const quiet = await diff(x, y, true);
      assert.equal(quiet.identical, true, `${x} ${y}`);
      assert.notEqual(quiet.a.digest, quiet.b.digest);
      const [image] = quiet.images;
      assert.deepEqual(image?.config, []);
      assert.equal(image?.layers.onlyA.length, 2);
      assert.match(image?.notes.join('\n') ?? '', /differ only where timestamps go/);
      assert.match(
        renderDiff(quiet),
        /^identical but for timestamps\n--- a: .*\n\+\+\+ b: .*\nlinux\/amd64: identical but for timestamps \(sha256:/,
      );
    }
    // Two indexes of the same image that differ in their created annotation alone.
    const same = await putImage(store, [await layer([f1])], { tag: 'same' });
    for (const [tag, created] of [
      ['dated-1', '1970-01-01T00:00:01Z'],
      ['dated-2', '1970-01-01T00:00:02Z'],
    ] as const) {
      await putIndex(store, [{ stored: same, platform: { os: 'linux', architecture: 'amd64' } }], tag, { [CREATED_ANNOTATION]: created });
    }
    const redated = await diff('dated-1', 'dated-2', true);
    assert.equal(redated.identical, true);
    assert.match(
      renderDiff(redated),
      /^identical but for timestamps\n--- a: .* sha256:\S+\n\+\+\+ b: .* sha256:\S+\nlinux\/amd64: identical/,
    );
    // Nothing any section shows, but a file in another layer, or layers of another media type.
    for (const other of ['moved', 'zstd']) {
      const d = await diff('a', other, true);
      assert.equal(d.identical, false, other);
      const [image] = d.images;
      assert.deepEqual([image?.config, image?.files.changed, image?.files.added, image?.files.removed], [[], [], [], []], other);
      assert.match(renderDiff(d), /^--- a: /);
    }
  });

  it('a text diff is of the file itself, not of another entry of the same name through a folder pointed elsewhere', async () => {
    const store = await layout();
    const base = await layer([dir('var'), dir('var/lib'), dir('var/lib/dpkg'), dir('etc'), link('x', 'var/lib/dpkg')]);
    await putImage(store, [base, await layer([file('x/status', 'Package: a\nVersion: 1\n')])], { tag: 'a' });
    // x/status lands in var/lib/dpkg; then x points to etc, and the next x/status lands in etc.
    const crafted = await layer([file('x/status', 'Package: a\nVersion: 2\n'), link('x', 'etc'), file('x/status', 'ETC CONTENT\n')]);
    await putImage(store, [base, crafted], { tag: 'b' });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { textDiff: true });
    const status = diff.images[0]!.files.changed.find((c) => c.path === '/var/lib/dpkg/status');
    assert.ok(status, JSON.stringify(diff.images[0]!.files));
    // The name as written finds etc's body last: not this file's, so no text diff rather than a wrong one.
    assert.doesNotMatch(status.textDiff ?? '', /ETC CONTENT/);
    assert.equal(status.textDiffSkipped, 'not found again');
  });

  it('reads a shared layer prefix once, and still sees a change to its files made by a later layer', async () => {
    const l0 = await layer([dir('etc/'), file('etc/conf', 'one\n'), file('etc/same', 'same\n'), file('bin', 'binary')]);
    const l1 = await layer([file('etc/more', 'more\n')]);
    const onlyA = await layer([file('etc/conf', 'two\n'), file('.wh.bin', '')]);
    const onlyB = await layer([file('etc/other', 'other\n')]);
    const base = await layout();
    await putImage(base, [l0, l1, onlyA], { tag: 'a' });
    await putImage(base, [l0, l1, onlyB], { tag: 'b' });
    const { store, reads } = counting(base);
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    const image = diff.images[0]!;
    assert.equal(image.layers.sharedPrefix, 2);
    assert.equal(reads.get(l0.descriptor.digest), 1);
    assert.equal(reads.get(l1.descriptor.digest), 1);
    assert.equal(reads.get(onlyA.descriptor.digest), 1);
    assert.equal(reads.get(onlyB.descriptor.digest), 1);
    assert.match(image.notes.join('\n'), /first 2 layer\(s\) are the same blobs in both: read once/);
    assert.deepEqual(
      image.files.changed.map((c) => [c.path, c.fields, c.a.layer, c.b.layer]),
      [['/etc/conf', ['sha256'], 2, 0]],
    );
    assert.deepEqual(
      image.files.added.map((e) => [e.path, e.layer]),
      [
        ['/bin', 0],
        ['/etc/other', 2],
      ],
    );
    assert.deepEqual(image.files.removed, []);
    assert.deepEqual(
      image.layers.shared.map((s) => [s.indexA, s.indexB]),
      [
        [0, 0],
        [1, 1],
      ],
    );
    assert.deepEqual(
      [image.layers.onlyA.map((l) => l.digest), image.layers.onlyB.map((l) => l.digest)],
      [[onlyA.descriptor.digest], [onlyB.descriptor.digest]],
    );
    assert.deepEqual(image.packages.source, { a: 'none', b: 'none' });
  });

  it('compares contents, not compression: a zstd copy of a gzip layer has the same files', {
    skip: !('zstdCompressSync' in zlib) && 'this Node has no zstd',
  }, async () => {
    const entries = [dir('usr/'), file('usr/x', 'x\n'), link('usr/y', 'x')];
    const store = await layout();
    await putImage(store, [await layer(entries, 'gzip')], { tag: 'gz' });
    await putImage(store, [await layer(entries, 'zstd')], { tag: 'zst' });
    await putImage(store, [await layer(entries, 'none')], { tag: 'tar' });
    for (const other of ['zst', 'tar']) {
      const diff = await diffImages({ store, target: 'gz' }, { store, target: other });
      const image = diff.images[0]!;
      assert.equal(diff.identical, false, 'different layer blobs are different images');
      assert.deepEqual(image.files, { added: [], removed: [], changed: [] });
      assert.equal(image.layers.onlyA.length, 1);
      assert.equal(image.layers.onlyB.length, 1);
    }
  });

  it('does not list the root, or a folder one image has an entry for and the other only implies, as removed', async () => {
    const store = await layout();
    await putImage(store, [await layer([dir('./'), dir('./etc/', { mode: 0o700 }), file('./etc/a', 'A')])], { tag: 'entries' });
    await putImage(store, [await layer([file('etc/a', 'A')])], { tag: 'bare' });
    // etc is a file here: that is a change, not an implied folder.
    await putImage(store, [await layer([dir('./'), file('etc', 'a file')])], { tag: 'file' });
    const diff = await diffImages({ store, target: 'entries' }, { store, target: 'bare' });
    const image = diff.images[0]!;
    assert.deepEqual([image.files.added, image.files.removed, image.files.changed], [[], [], []]);
    assert.deepEqual(image.files.implied, ['/etc']);
    assert.match(renderDiff(diff), /^ {4}1 folder\(s\) are entries in one image and only implied .*: \/etc$/m);
    const reversed = await diffImages({ store, target: 'bare' }, { store, target: 'entries' });
    assert.deepEqual(reversed.images[0]!.files.implied, ['/etc']);
    assert.deepEqual(reversed.images[0]!.files.removed, []);
    const other = await diffImages({ store, target: 'file' }, { store, target: 'bare' });
    assert.deepEqual(
      [other.images[0]!.files.removed.map((e) => e.path), other.images[0]!.files.added.map((e) => e.path)],
      [['/etc'], ['/etc/a']],
    );
    assert.equal(other.images[0]!.files.implied, undefined);
  });

  it('names a foreign layer that the store does not hold, and the image it is in', async () => {
    const store = await layout();
    const foreign: Descriptor = {
      mediaType: MediaType.DockerForeignLayerGzip,
      digest: `sha256:${'ab'.repeat(32)}`,
      size: 123456,
      urls: ['https://example.invalid/base.tar.gz'],
    };
    const l = await layer([file('Files/app.txt', 'one')]);
    await store.putBlob(bytesSource(l.descriptor, l.bytes));
    const config = encodeJson({
      architecture: 'amd64',
      os: 'windows',
      rootfs: { type: 'layers', diff_ids: [`sha256:${'cd'.repeat(32)}`, l.diffId] },
      config: {},
    });
    const configDesc: Descriptor = { mediaType: MediaType.DockerConfig, digest: digestOf(config), size: config.length };
    await store.putBlob(bytesSource(configDesc, config));
    const manifest = { schemaVersion: 2, mediaType: MediaType.DockerManifest, config: configDesc, layers: [foreign, l.descriptor] };
    await store.putManifest(parseStored(encodeJson(manifest)), { tags: ['windows'], keepAsRoot: true });
    await putImage(store, [l], { tag: 'other' });
    await assert.rejects(diffImages({ store, target: 'other' }, { store, target: 'windows' }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
      assert.match(
        err.message,
        /^layer 0 \(sha256:(ab){32}\) is a foreign, non-distributable layer \(application\/vnd\.docker\.image\.rootfs\.foreign\.diff\.tar\.gzip\)/,
      );
      assert.match(err.message, /https:\/\/example\.invalid\/base\.tar\.gz/);
      assert.match(err.where ?? '', /:windows@sha256:(ab){32}$/);
      return true;
    });
  });

  it('compares hardlinks by their target as a path: ./usr/x, /usr/x and usr/x are one target', async () => {
    const hard = (name: string, target: string): Entry => ({
      header: tarHeader({ name, type: 'hardlink', mode: 0o644, linkname: target }),
    });
    const store = await layout();
    await putImage(store, [await layer([dir('./usr/'), file('./usr/x', 'same'), hard('./usr/y', './usr/x')])], { tag: 'dot' });
    await putImage(store, [await layer([dir('usr/'), file('usr/x', 'same'), hard('usr/y', 'usr/x')])], { tag: 'bare' });
    await putImage(store, [await layer([dir('/usr/'), file('/usr/x', 'same'), hard('/usr/y', '/usr//x')])], { tag: 'slash' });
    await putImage(store, [await layer([dir('usr/'), file('usr/x', 'same'), file('usr/z', 'same'), hard('usr/y', 'usr/z')])], {
      tag: 'other',
    });
    for (const tag of ['bare', 'slash']) {
      const diff = await diffImages({ store, target: 'dot' }, { store, target: tag });
      assert.deepEqual(diff.images[0]!.files, { added: [], removed: [], changed: [] }, tag);
    }
    // Another target is a change, shown as a path of the image.
    const diff = await diffImages({ store, target: 'dot' }, { store, target: 'other' });
    assert.deepEqual(
      diff.images[0]!.files.changed.map((c) => [c.path, c.fields, c.a.linkname, c.b.linkname]),
      [['/usr/y', ['linkname'], '/usr/x', '/usr/z']],
    );
    assert.match(renderDiff(diff), /^ {4}~ \/usr\/y {2}linkname \/usr\/x → \/usr\/z /m);
    await putImage(store, [await layer([hard('y', '../../etc/shadow')])], { tag: 'out' });
    await assert.rejects(
      diffImages({ store, target: 'dot' }, { store, target: 'out' }),
      (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && /hardlink "y" points to "\.\.\/\.\.\/etc\/shadow"/.test(err.message),
    );
  });

  it('refuses a hardlink to nothing, to a folder or to itself, and takes one to a file of a lower layer', async () => {
    const hard = (name: string, target: string): Entry => ({ header: tarHeader({ name, type: 'hardlink', linkname: target }) });
    const l0 = await layer([dir('usr/'), file('usr/f', 'f'), link('usr/s', 'f')]);
    // To a file of a lower layer, to one earlier in the layer, to a symlink (link(2) links the symlink itself).
    const l1 = await layer([hard('a', 'usr/f'), file('b', 'b'), hard('c', '/b'), hard('d', 'usr/s')]);
    assert.deepEqual(
      Object.entries(await flatten([l0, l1])).filter(([p]) => p.length === 1),
      [
        ['a', 'hardlink@1'],
        ['b', 'file@1'],
        ['c', 'hardlink@1'],
        ['d', 'hardlink@1'],
      ],
    );
    const refusals: Array<[Entry[], RegExp]> = [
      [[hard('h', 'nonexist')], /^the hardlink "h" points to "nonexist", which no earlier entry of the layer or lower layer made$/],
      // A target that comes later in the layer is not there yet when a runtime links.
      [[hard('h', 'later'), file('later', 'x')], /"h" points to "later", which no earlier entry/],
      // Whited out in this layer: gone.
      [[file('usr/.wh.f', ''), hard('h', 'usr/f')], /"h" points to "usr\/f", which no earlier entry/],
      [[hard('h', 'usr')], /"h" points to "usr", a folder$/],
      [[hard('h', './')], /"h" points to ".\/", a folder$/],
      [[hard('usr/f', 'usr/f')], /"usr\/f" points to "usr\/f", the link itself$/],
    ];
    for (const [entries, message] of refusals) {
      const upper = await layer(entries);
      await assert.rejects(flatten([l0, upper]), (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
        assert.match(err.message, message);
        assert.match(err.where ?? '', new RegExp(`@${upper.descriptor.digest}$`), 'names the layer');
        return true;
      });
    }
  });

  it('reports every kind of file attribute that differs', async () => {
    const store = await layout();
    const a = await layer([
      file('f', 'same', { mode: 0o644, uid: 0, gid: 0, mtime: 1 }),
      link('l', 'one'),
      file('x', 'same', { pax: { 'SCHILY.xattr.user.k': 'v' } }),
      { header: tarHeader({ name: 'dev', type: 'char', devmajor: 1, devminor: 3 }) },
      file('t', 'a file'),
    ]);
    const b = await layer([
      file('f', 'same', { mode: 0o755, uid: 1000, gid: 1000, mtime: 2 }),
      link('l', 'two'),
      file('x', 'same', { pax: { 'SCHILY.xattr.user.k': 'w' } }),
      { header: tarHeader({ name: 'dev', type: 'char', devmajor: 1, devminor: 5 }) },
      dir('t/'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.deepEqual(
      diff.images[0]!.files.changed.map((c) => [c.path, c.fields]),
      [
        ['/dev', ['device']],
        ['/f', ['mode', 'uid', 'gid', 'mtime']],
        ['/l', ['linkname']],
        ['/t', ['type', 'mode', 'size', 'sha256']],
        ['/x', ['xattrs']],
      ],
    );
    const quiet = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { ignoreTimestamps: true });
    assert.deepEqual(quiet.images[0]!.files.changed.find((c) => c.path === '/f')?.fields, ['mode', 'uid', 'gid']);
    const text = renderDiff(diff);
    assert.match(
      text,
      /^ {4}~ \/f {2}mode 0644 → 0755, uid 0 → 1000, gid 0 → 1000, mtime 1970-01-01T00:00:01Z → 1970-01-01T00:00:02Z {2}\(layer 0 /m,
    );
    assert.match(text, /^ {4}~ \/l {2}linkname one → two /m);
  });

  it('lists config changes: entrypoint, cmd, env, user, workdir, labels, ports, volumes, stop signal, history', async () => {
    const store = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(store, [l], {
      tag: 'a',
      config: {
        Entrypoint: ['/a'],
        Cmd: ['run'],
        Env: ['PATH=/bin', 'GONE=1', 'SAME=s'],
        User: 'root',
        Labels: { 'org.opencontainers.image.version': '1', keep: 'k' },
        ExposedPorts: { '80/tcp': {} },
        StopSignal: 'SIGTERM',
      },
      history: [{ created_by: 'step one' }],
    });
    await putImage(store, [l], {
      tag: 'b',
      config: {
        Entrypoint: ['/b', '--flag'],
        Env: ['PATH=/usr/bin:/bin', 'SAME=s', 'NEW=2'],
        User: '65532',
        WorkingDir: '/app',
        Labels: { 'org.opencontainers.image.version': '2', keep: 'k' },
        ExposedPorts: { '443/tcp': {} },
        Volumes: { '/data': {} },
        StopSignal: 'SIGQUIT',
      },
      history: [{ created_by: 'step 1' }, { created_by: 'step two' }],
    });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    const image = diff.images[0]!;
    assert.deepEqual(image.config, [
      { field: 'User', a: 'root', b: '65532' },
      { field: 'WorkingDir', b: '/app' },
      { field: 'Entrypoint', a: ['/a'], b: ['/b', '--flag'] },
      { field: 'Cmd', a: ['run'] },
      { field: 'StopSignal', a: 'SIGTERM', b: 'SIGQUIT' },
      { field: 'Env.GONE', a: '1' },
      { field: 'Env.NEW', b: '2' },
      { field: 'Env.PATH', a: '/bin', b: '/usr/bin:/bin' },
      { field: 'Labels.org.opencontainers.image.version', a: '1', b: '2' },
      { field: 'ExposedPorts.443/tcp', b: true },
      { field: 'ExposedPorts.80/tcp', a: true },
      { field: 'Volumes./data', b: true },
      { field: 'history', a: 1, b: 2 },
      { field: 'history[0].created_by', a: 'step one', b: 'step 1' },
    ]);
    assert.deepEqual(image.files, { added: [], removed: [], changed: [] });
    assert.deepEqual(image.layers.onlyA, []);
    const text = renderDiff(diff);
    assert.match(text, /^ {4}~ Entrypoint: \["\/a"\] → \["\/b","--flag"\]$/m);
    assert.match(text, /^ {4}- Env\.GONE: "1"$/m);
    assert.match(text, /^ {4}\+ Volumes\.\/data: true$/m);
  });

  it('compares the platforms both indexes have and lists the others', async () => {
    const store = await layout();
    const amd = await putImage(store, [await layer([file('arch', 'amd64')])]);
    const arm = await putImage(store, [await layer([file('arch', 'arm64')])], { platform: { os: 'linux', architecture: 'arm64' } });
    const amd2 = await putImage(store, [await layer([file('arch', 'amd64\n')])]);
    const s390 = await putImage(store, [await layer([file('arch', 's390x')])], { platform: { os: 'linux', architecture: 's390x' } });
    await putIndex(
      store,
      [
        { stored: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { stored: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      'a',
    );
    await putIndex(
      store,
      [
        { stored: amd2, platform: { os: 'linux', architecture: 'amd64' } },
        { stored: s390, platform: { os: 'linux', architecture: 's390x' } },
      ],
      'b',
    );
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.deepEqual(diff.platforms, { onlyA: ['linux/arm64'], onlyB: ['linux/s390x'] });
    assert.deepEqual(
      diff.images.map((i) => [i.platform, i.files.changed.map((c) => c.path)]),
      [['linux/amd64', ['/arch']]],
    );
    assert.match(renderDiff(diff), /^platforms only in a: linux\/arm64\nplatforms only in b: linux\/s390x$/m);
    const one = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.deepEqual(one.platforms, { onlyA: [], onlyB: [] });
    assert.equal(one.images.length, 1);
    assert.equal(one.identical, false);
    await assert.rejects(
      diffImages({ store, target: 'a' }, { store, target: 'b' }, { platform: { os: 'linux', architecture: 'arm64' } }),
      (err: unknown) =>
        isProvenantError(err, 'NO_MATCHING_PLATFORM') && /has no image for linux\/arm64/.test(err.message) && /s390x/.test(err.hint ?? ''),
    );
    // An index against one of its own platform images: that platform is the same manifest, and
    // the platform asked about is all that is compared.
    const single = await diffImages(
      { store, target: 'a' },
      { store, target: amd.digest },
      { platform: { os: 'linux', architecture: 'amd64' } },
    );
    assert.equal(single.identical, true);
    assert.equal(single.images[0]?.identical, true);
    assert.equal(renderDiff(single), 'identical\n');
    // Two indexes whose amd64 image is the same and whose arm64 images differ: identical for amd64 only.
    const arm2 = await putImage(store, [await layer([file('arch', 'arm64\n')])], { platform: { os: 'linux', architecture: 'arm64' } });
    const amd64 = { os: 'linux', architecture: 'amd64' };
    const arm64 = { os: 'linux', architecture: 'arm64' };
    await putIndex(
      store,
      [
        { stored: amd, platform: amd64 },
        { stored: arm, platform: arm64 },
      ],
      'c',
    );
    await putIndex(
      store,
      [
        { stored: amd, platform: amd64 },
        { stored: arm2, platform: arm64 },
      ],
      'd',
    );
    const same = await diffImages({ store, target: 'c' }, { store, target: 'd' }, { platform: amd64 });
    assert.equal(same.identical, true);
    assert.equal((await diffImages({ store, target: 'c' }, { store, target: 'd' }, { platform: arm64 })).identical, false);
    assert.equal((await diffImages({ store, target: 'c' }, { store, target: 'd' })).identical, false);
    await assert.rejects(diffImages({ store, target: 'a' }, { store, target: 'nope' }), code('NOT_FOUND'));
  });

  it('lists changes to every other config key by its whole value: Healthcheck, Shell, OnBuild, os.features', async () => {
    const store = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(store, [l], {
      tag: 'a',
      config: { Cmd: ['/bin/sh'], Shell: ['/bin/sh', '-c'], Healthcheck: { Interval: 1, Test: ['CMD', 'true'] } } as never,
      extra: { 'os.features': ['win32k'], docker_version: '20.10.0' },
    });
    await putImage(store, [l], {
      tag: 'b',
      config: {
        Cmd: ['/bin/sh'],
        Shell: ['/bin/bash', '-c'],
        // The same value in another key order is the same value.
        Healthcheck: { Test: ['CMD', 'true'], Interval: 1 },
        OnBuild: ['RUN \u202eevil'],
      } as never,
      extra: { 'os.features': ['win32k', 'x'], docker_version: '20.10.0' },
    });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.deepEqual(diff.images[0]!.config, [
      { field: 'OnBuild', b: ['RUN \u202eevil'] },
      { field: 'Shell', a: ['/bin/sh', '-c'], b: ['/bin/bash', '-c'] },
      { field: 'os.features', a: ['win32k'], b: ['win32k', 'x'] },
    ]);
    const text = renderDiff(diff);
    assert.match(text, /^ {4}~ Shell: \["\/bin\/sh","-c"\] → \["\/bin\/bash","-c"\]$/m);
    assert.match(text, /^ {4}~ os\.features: \["win32k"\] → \["win32k","x"\]$/m);
    // A bidi override in a value is escaped as everywhere else in the text.
    assert.match(text, /^ {4}\+ OnBuild: \["RUN \\u202eevil"\]$/m);
    assert.doesNotMatch(text, /\u202e/);
    await putImage(store, [l], { tag: 'c', config: { Cmd: ['/bin/sh'], Healthcheck: { Test: ['CMD', 'true'] } } as never });
    assert.match(
      renderDiff(await diffImages({ store, target: 'a' }, { store, target: 'c' })),
      /^ {4}~ Healthcheck: \{"Interval":1,"Test":\["CMD","true"\]\} → \{"Test":\["CMD","true"\]\}$/m,
    );
  });

  it("takes the classic builder's empty fields for unset, and leaves its container's id and config out", async () => {
    const store = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(store, [l], {
      tag: 'classic',
      config: {
        Cmd: ['sh'],
        Hostname: '',
        Domainname: '',
        AttachStdin: false,
        Tty: false,
        Image: '',
        OnBuild: null,
        ArgsEscaped: [],
      } as never,
      extra: { container: 'f00dfeed', container_config: { Hostname: 'f00dfeed', Cmd: ['/bin/sh', '-c', '#(nop) CMD ["sh"]'] } },
    });
    await putImage(store, [l], { tag: 'buildkit', config: { Cmd: ['sh'] } as never });
    assert.deepEqual((await diffImages({ store, target: 'classic' }, { store, target: 'buildkit' })).images[0]!.config, []);
    // A field set to something is still a change.
    await putImage(store, [l], { tag: 'tty', config: { Cmd: ['sh'], Tty: true } as never });
    assert.deepEqual((await diffImages({ store, target: 'classic' }, { store, target: 'tty' })).images[0]!.config, [
      { field: 'Tty', b: true },
    ]);
  });

  it('pairs the images of a Windows index by os.version, and the entries of a repeated platform in order', async () => {
    const store = await layout();
    const ltsc2019 = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' };
    const ltsc2022 = { os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.1' };
    const old2019 = await putImage(store, [await layer([file('Files/build', '17763')])], { platform: ltsc2019 });
    const old2022 = await putImage(store, [await layer([file('Files/build', '20348')])], { platform: ltsc2022 });
    const new2022 = await putImage(store, [await layer([file('Files/build', '20348 patched')])], { platform: ltsc2022 });
    await putIndex(
      store,
      [
        { stored: old2019, platform: ltsc2019 },
        { stored: old2022, platform: ltsc2022 },
      ],
      'win-a',
    );
    await putIndex(
      store,
      [
        { stored: old2019, platform: ltsc2019 },
        { stored: new2022, platform: ltsc2022 },
      ],
      'win-b',
    );
    const diff = await diffImages({ store, target: 'win-a' }, { store, target: 'win-b' });
    assert.deepEqual(diff.platforms, { onlyA: [], onlyB: [] });
    assert.deepEqual(
      diff.images.map((i) => [i.platform, i.identical, i.files.changed.map((c) => c.path)]),
      [
        ['windows/amd64:10.0.17763.1', true, []],
        ['windows/amd64:10.0.20348.1', false, ['/Files/build']],
      ],
    );
    // A month later both images have another update number: paired by OS build all the same.
    const upd2019 = { ...ltsc2019, 'os.version': '10.0.17763.5458' };
    const upd2022 = { ...ltsc2022, 'os.version': '10.0.20348.2322' };
    await putIndex(
      store,
      [
        { stored: old2019, platform: upd2019 },
        { stored: new2022, platform: upd2022 },
      ],
      'win-c',
    );
    const updated = await diffImages({ store, target: 'win-a' }, { store, target: 'win-c' });
    assert.deepEqual(updated.platforms, { onlyA: [], onlyB: [] });
    assert.deepEqual(
      updated.images.map((i) => i.files.changed.map((c) => c.path)),
      [[], ['/Files/build']],
    );
    // --platform names os/arch only: each OS build of it is compared.
    const windows = await diffImages(
      { store, target: 'win-a' },
      { store, target: 'win-b' },
      { platform: { os: 'windows', architecture: 'amd64' } },
    );
    assert.deepEqual(
      windows.images.map((i) => i.platform),
      ['windows/amd64:10.0.17763.1', 'windows/amd64:10.0.20348.1'],
    );

    // An index that lists linux/amd64 twice: its first entry is paired with the other's first,
    // the second has no partner, and the repeat is said.
    const one = await putImage(store, [await layer([file('a', 'one')])]);
    const two = await putImage(store, [await layer([file('a', 'two')])]);
    const amd64 = { os: 'linux', architecture: 'amd64' };
    await putIndex(store, [{ stored: one, platform: amd64 }], 'single');
    await putIndex(
      store,
      [
        { stored: two, platform: amd64 },
        { stored: one, platform: amd64 },
      ],
      'twice',
    );
    const twice = await diffImages({ store, target: 'single' }, { store, target: 'twice' });
    assert.deepEqual(twice.platforms, { onlyA: [], onlyB: ['linux/amd64 #2'], duplicatesB: ['linux/amd64'] });
    assert.deepEqual(
      twice.images.map((i) => [i.platform, i.a.digest, i.b.digest]),
      [['linux/amd64', one.digest, two.digest]],
    );
    const reversed = await diffImages({ store, target: 'twice' }, { store, target: 'single' });
    assert.deepEqual(reversed.platforms, { onlyA: ['linux/amd64 #2'], onlyB: [], duplicatesA: ['linux/amd64'] });
    const text = renderDiff(twice);
    assert.match(text, /^platforms only in b: linux\/amd64 #2$/m);
    assert.match(text, /^platforms b lists more than once: linux\/amd64 \(paired in order; a runtime pulls the first\)$/m);
  });

  it('shows a signature that only one copy of the same image has, without reading its layers', async () => {
    const src = await layout();
    const l = await layer([file('x', 'x')]);
    await putImage(src, [l], { tag: 'v1' });
    const dst = await layout();
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    await signImage(dst, 'v1', { signer, dockerReference: 'example/x' });
    const { store, reads } = counting(dst);
    const diff = await diffImages({ store: src, target: 'v1' }, { store, target: 'v1' });
    assert.equal(diff.a.digest, diff.b.digest);
    assert.equal(diff.identical, false);
    const image = diff.images[0]!;
    assert.equal(image.identical, false);
    assert.deepEqual(image.attachments.onlyA, []);
    assert.deepEqual(image.attachments.onlyB.map((i) => i.label).sort(), [
      `signature cosign by a key`,
      `signature referrers https://sigstore.dev/cosign/sign/v1 by key ${signer.keyId}`,
    ]);
    assert.equal(reads.get(l.descriptor.digest), undefined, 'the layer was not read');
    assert.match(renderDiff(diff), /^ {4}\+ signature cosign by a key$/m);
  });
});

// ---- packages from dpkg and from attached SBOMs ------------------------------------------

function stanza(name: string, version: string, status = true, arch = 'amd64'): string {
  return `Package: ${name}\n${status ? 'Status: install ok installed\n' : ''}Architecture: ${arch}\nVersion: ${version}\nDescription: ${name}\n`;
}

describe('packages', () => {
  it("reads dpkg's status and file lists, and names the package of each changed file", async () => {
    const store = await layout();
    const a = await layer([
      file('var/lib/dpkg/status', [stanza('hello', '2.10-2'), stanza('gone', '1.0')].join('\n')),
      file('var/lib/dpkg/info/hello.list', '/.\n/usr\n/usr/bin\n/usr/bin/hello\n'),
      file('var/lib/dpkg/info/gone.list', '/.\n/usr/share/gone\n'),
      file('usr/bin/hello', 'v2'),
      file('usr/share/gone', 'g'),
    ]);
    const b = await layer([
      file('var/lib/dpkg/status', [stanza('hello', '2.10-3'), stanza('new', '1.0')].join('\n')),
      file('var/lib/dpkg/info/hello.list', '/.\n/usr\n/usr/bin\n/usr/bin/hello\n'),
      file('var/lib/dpkg/info/new.list', '/.\n/usr/share/new\n'),
      file('usr/bin/hello', 'v3'),
      file('usr/share/new', 'n'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(image.packages.source, { a: 'dpkg', b: 'dpkg' });
    assert.deepEqual(
      image.packages.changed.map((c) => [c.name, c.a.version, c.b.version, c.files]),
      [['hello', '2.10-2', '2.10-3', ['/usr/bin/hello']]],
    );
    assert.deepEqual(image.packages.removed, [
      { name: 'gone', version: '1.0', ecosystem: 'deb', arch: 'amd64', files: ['/usr/share/gone'] },
    ]);
    assert.deepEqual(
      image.packages.added.map((p) => [p.name, p.files]),
      [['new', ['/usr/share/new']]],
    );
    assert.equal(image.files.changed.find((c) => c.path === '/usr/bin/hello')?.package, 'hello');
  });

  it('matches a package installed for several architectures by name and arch, and names it name:arch', async () => {
    const store = await layout();
    const status = (...stanzas: string[]) => file('var/lib/dpkg/status', stanzas.join('\n'));
    const amd64 = stanza('libc6', '2.36-9', true, 'amd64');
    await putImage(store, [await layer([status(amd64, stanza('zlib1g', '1.2'))])], { tag: 'one' });
    await putImage(store, [await layer([status(amd64, stanza('libc6', '2.36-9', true, 'i386'), stanza('zlib1g', '1.3'))])], {
      tag: 'two',
    });
    await putImage(store, [await layer([status(stanza('libc6', '2.36-10', true, 'amd64'), stanza('libc6', '2.36-9', true, 'i386'))])], {
      tag: 'three',
    });
    const diff = await diffImages({ store, target: 'one' }, { store, target: 'two' });
    const packages = diff.images[0]!.packages;
    // The i386 build is added; the amd64 one is the same in both.
    assert.deepEqual(packages.removed, []);
    assert.deepEqual(packages.added, [{ name: 'libc6', version: '2.36-9', ecosystem: 'deb', arch: 'i386', byArch: true }]);
    assert.deepEqual(
      packages.changed.map((c) => [c.name, c.byArch, c.fields]),
      [['zlib1g', undefined, ['version']]],
    );
    const text = renderDiff(diff);
    assert.match(text, /^ {4}\+ libc6:i386 2\.36-9$/m);
    assert.match(text, /^ {4}~ zlib1g 1\.2 → 1\.3$/m);
    const upgrade = await diffImages({ store, target: 'two' }, { store, target: 'three' });
    assert.deepEqual(
      upgrade.images[0]!.packages.changed.map((c) => [c.name, c.byArch, c.a.version, c.b.version]),
      [['libc6', true, '2.36-9', '2.36-10']],
    );
    assert.match(renderDiff(upgrade), /^ {4}~ libc6:amd64 2\.36-9 → 2\.36-10$/m);
  });

  it("reads distroless' status.d and its md5sums", async () => {
    const store = await layout();
    const md5 = (p: string) => `${'0'.repeat(32)}  ${p}\n`;
    const a = await layer([
      file('var/lib/dpkg/status.d/base', stanza('base', '1', false)),
      file('var/lib/dpkg/status.d/base.md5sums', md5('etc/base')),
      file('etc/base', '1'),
    ]);
    const b = await layer([
      file('var/lib/dpkg/status.d/base', stanza('base', '2', false)),
      file('var/lib/dpkg/status.d/base.md5sums', md5('etc/base')),
      file('etc/base', '2'),
    ]);
    await putImage(store, [a], { tag: 'a' });
    await putImage(store, [b], { tag: 'b' });
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(
      image.packages.changed.map((c) => [c.name, c.a.version, c.b.version, c.files]),
      [['base', '1', '2', ['/etc/base']]],
    );
  });

  it('falls back to an attached SBOM when an image has no package database', async () => {
    const { statement, storeAttestations } = await import('../../src/attest/storage.ts');
    const store = await layout();
    const spdx = (version: string) => ({
      spdxVersion: 'SPDX-2.3',
      packages: [
        { name: 'image', versionInfo: 'x', primaryPackagePurpose: 'CONTAINER' },
        {
          name: 'left-pad',
          versionInfo: version,
          externalRefs: [{ referenceType: 'purl', referenceLocator: `pkg:npm/left-pad@${version}` }],
        },
      ],
    });
    for (const [tag, version] of [
      ['a', '1.0.0'],
      ['b', '1.3.0'],
    ] as const) {
      const image = await putImage(store, [await layer([file('app.js', version)])], { tag });
      await storeAttestations(
        store,
        image,
        [{ manifest: image, statements: [statement('https://spdx.dev/Document', spdx(version), [{ name: 'x', digest: image.digest }])] }],
        'referrers',
      );
    }
    const image = (await diffImages({ store, target: 'a' }, { store, target: 'b' })).images[0]!;
    assert.deepEqual(image.packages.source, { a: 'sbom', b: 'sbom' });
    assert.deepEqual(
      image.packages.changed.map((c) => [c.ecosystem, c.name, c.a.version, c.b.version]),
      [['npm', 'left-pad', '1.0.0', '1.3.0']],
    );
  });
});

describe('size', () => {
  it('compares and prints a config with 150,000 labels and a platform with 150,000 added files', async () => {
    const store = await layout();
    const l = await layer([file('x', 'x')]);
    const labels = Object.fromEntries(Array.from({ length: 150_000 }, (_, i) => [`l${i}`, '']));
    await putImage(store, [l], { tag: 'a' });
    await putImage(store, [l], { tag: 'b', config: { Labels: labels } });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' });
    assert.equal(diff.images[0]!.config.filter((c) => c.field.startsWith('Labels.')).length, 150_000);
    const added = diff.images[0]!.files.added;
    const one = {
      path: '/x',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
      layer: 0,
      layerDigest: l.descriptor.digest,
    } as const;
    for (let i = 0; i < 150_000; i++) added.push({ ...one, path: `/f${i}` });
    const text = renderDiff(diff);
    assert.match(text, /^ {4}\+ Labels\.l149999: ""$/m);
    assert.match(text, /^ {4}\+ \/f149999 {2}file /m);
  });

  it('diffs the text and the packages of a file an image writes through a symlink of a lower layer', async () => {
    const dpkg = (name: string, version: string) =>
      `Package: ${name}\nStatus: install ok installed\nVersion: ${version}\nArchitecture: amd64\n`;
    const store = await layout();
    const base = await layer([
      dir('var/'),
      dir('var/lib/'),
      dir('var/lib/dpkg/'),
      file('var/lib/dpkg/status', dpkg('base-files', '12.4')),
      link('x', 'var/lib/dpkg'),
    ]);
    await putImage(store, [base], { tag: 'a' });
    await putImage(store, [base, await layer([file('x/status', dpkg('openssl', '1.0.1e-2'))])], { tag: 'b' });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { textDiff: true });
    const image = diff.images[0]!;
    assert.deepEqual(
      image.files.changed.map((c) => [c.path, c.b.layer, c.textDiff]),
      [
        [
          '/var/lib/dpkg/status',
          1,
          '--- a/var/lib/dpkg/status\n+++ b/var/lib/dpkg/status\n@@ -1,4 +1,4 @@\n-Package: base-files\n+Package: openssl\n Status: install ok installed\n-Version: 12.4\n+Version: 1.0.1e-2\n Architecture: amd64\n',
        ],
      ],
    );
    assert.deepEqual(image.files.added, []);
    assert.deepEqual([image.packages.added.map((p) => p.name), image.packages.removed.map((p) => p.name)], [['openssl'], ['base-files']]);
  });

  it('skips the text diffs of small files past the budget instead of holding them all', async () => {
    const store = await layout();
    const size = 60 * 1024;
    const count = Math.floor(TEXT_DIFF_BUDGET / size) + 2;
    const files = (v: string) =>
      Array.from({ length: count }, (_, i) => file(`f${String(i).padStart(4, '0')}`, `${v}\n${'.'.repeat(size - 2)}`));
    await putImage(store, [await layer(files('a'))], { tag: 'a' });
    await putImage(store, [await layer(files('b'))], { tag: 'b' });
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { textDiff: true });
    const changed = diff.images[0]!.files.changed;
    assert.equal(changed.length, count);
    assert.equal(changed.filter((c) => c.textDiff !== undefined).length, Math.floor(TEXT_DIFF_BUDGET / size));
    assert.deepEqual(
      changed.filter((c) => c.textDiff === undefined).map((c) => [c.path, c.textDiffSkipped]),
      [
        [`/f${String(count - 2).padStart(4, '0')}`, 'too large'],
        [`/f${String(count - 1).padStart(4, '0')}`, 'too large'],
      ],
    );
  });
});

describe('text from the images in the text form', () => {
  it('stays on its own line: paths, link targets, label keys and SBOM package names print no line of their own', async () => {
    const { statement, storeAttestations } = await import('../../src/attest/storage.ts');
    const store = await layout();
    const fake = '\n    + /etc/shadow  file 0644 0:0 1 B';
    const spdx = (version: string) => ({
      spdxVersion: 'SPDX-2.3',
      packages: [
        { name: 'image', versionInfo: 'x', primaryPackagePurpose: 'CONTAINER' },
        { name: `pad${fake}`, versionInfo: `${version}\r\t` },
      ],
    });
    for (const [tag, version] of [
      ['a', '1'],
      ['b', '2'],
    ] as const) {
      const entries = [file(`t${fake}`, `text ${version}\n`), link(`l${tag}`, `target${fake}`)];
      const image = await putImage(store, [await layer(entries)], { tag, config: { Labels: { [`k${fake}${tag}`]: tag } } });
      await storeAttestations(
        store,
        image,
        [{ manifest: image, statements: [statement('https://spdx.dev/Document', spdx(version), [{ name: 'x', digest: image.digest }])] }],
        'referrers',
      );
    }
    const diff = await diffImages({ store, target: 'a' }, { store, target: 'b' }, { textDiff: true });
    const text = renderDiff(diff);
    // Each field is escaped where it stands; the file's text diff is the one body with lines.
    assert.doesNotMatch(text, /^ *\+ \/etc\/shadow/m);
    assert.match(text, /^ {4}~ \/t\\u000a {4}\+ \/etc\/shadow {2}file 0644 0:0 1 B {2}sha256 /m);
    assert.match(text, /^ {4}\+ \/lb {2}symlink 0777 0:0 → target\\u000a {4}\+ \/etc\/shadow/m);
    assert.match(text, /^ {4}\+ Labels\.k\\u000a {4}\+ \/etc\/shadow {2}file 0644 0:0 1 Bb: "b"$/m);
    assert.match(text, /^ {4}~ pad\\u000a {4}\+ \/etc\/shadow {2}file 0644 0:0 1 B 1\\u000d\\u0009 → 2\\u000d\\u0009/m);
    assert.match(text, /^ {8}--- a\/t\\u000a {4}\+ \/etc\/shadow/m);
    assert.match(text, /^ {8}-text 1$/m);
    // The JSON form keeps the names as they are.
    assert.ok(diff.images[0]!.files.changed.some((c) => c.path === `/t${fake}`));
  });
});
