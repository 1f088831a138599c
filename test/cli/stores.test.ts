// The stores one command run opens (cli/stores.ts withStores): locations that spell one layout
// folder alike share a store, read or written, which is closed once after the task; archives
// share one only when read.
import assert from 'node:assert/strict';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/io.ts';
import { parseLocationOrPath, withStores } from '../../src/cli/stores.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { parseLocation } from '../../src/ref/location.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { openLocation } from '../../src/store/open.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { exampleDir, provenant } from './provenant.ts';

const tempDir = useTempDir('cli-stores');
const ARGS = { values: {}, positionals: [] };

function testIo(): CliIo {
  return {
    env: {},
    stdout: { write: () => undefined, flushed: async () => true },
    stderr: new PassThrough(),
    stdin: Readable.from([]),
    homedir: '/nonexistent',
    signal: new AbortController().signal,
  };
}

/** Counts the closes of each store, and whether each discarded. */
function countCloses(stores: ContentStore[]): Map<ContentStore, boolean[]> {
  const closes = new Map<ContentStore, boolean[]>();
  for (const store of new Set(stores)) {
    const close = store.close.bind(store);
    const seen: boolean[] = [];
    closes.set(store, seen);
    store.close = async (options) => {
      seen.push(options?.discard === true);
      return close(options);
    };
  }
  return closes;
}

describe('withStores', () => {
  it('opens one store for the images of one layout, and closes it once; another spelling of its folder gets its own, named as spelled', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const one = await makeImage(layout, { tag: 'v1', seed: 1 });
    await makeImage(layout, { tag: 'v2', seed: 2 });
    await layout.close();
    await symlink(join(dir, 'l'), join(dir, 'link'));
    const other = await LayoutStore.open(join(dir, 'other'), { create: true });
    await makeImage(other, { tag: 'v1', seed: 1 });
    await other.close();

    const l = `oci:${join(dir, 'l')}`;
    const link = `oci:${join(dir, 'link')}`;
    const texts = [`${l}:v1`, `${l}:v2`, `${l}@${one.root.digest}`];
    let closes: Map<ContentStore, boolean[]> | undefined;
    await withStores(ARGS, testIo(), [...texts, `${link}:v1`, `oci:${join(dir, 'other')}:v1`], async (stores) => {
      // The link first: the store of `l` opened after it still names `l`.
      const linked = await stores.open(`${link}:v1`);
      const opened = [];
      for (const text of texts) opened.push(await stores.open(text));
      const [a, b, c] = opened as [(typeof opened)[0], (typeof opened)[0], (typeof opened)[0]];
      assert.equal(b.store, a.store);
      assert.equal(c.store, a.store);
      // What each location names in the store is its own.
      assert.deepEqual([a.target, a.tags], ['v1', ['v1']]);
      assert.deepEqual([b.target, b.tags], ['v2', ['v2']]);
      assert.deepEqual([c.target, c.tags, c.digest], [one.root.digest, [], one.root.digest]);
      assert.notEqual(linked.store, a.store);
      assert.deepEqual([linked.store.location, a.store.location], [link, l]);
      for (const [opened, named] of [
        [linked, link],
        [a, l],
      ] as const) {
        await assert.rejects(opened.store.getManifest('nope'), (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.where === named);
      }
      const elsewhere = await stores.open(`oci:${join(dir, 'other')}:v1`);
      assert.notEqual(elsewhere.store, a.store);
      closes = countCloses([a.store, linked.store, elsewhere.store]);
      assert.deepEqual([...closes.values()], [[], [], []], 'nothing is closed while the task runs');
    });
    assert.deepEqual([...closes!.values()], [[false], [false], [false]]);
  });

  it('writes and reads one layout through one store: a retag within it, discarded once when the task fails', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    const made = await makeImage(layout, { tag: 'v1' });
    await layout.close();
    const src = `oci:${join(dir, 'l')}:v1`;
    const dst = `oci:${join(dir, 'l')}:v1-copy`;
    await withStores(ARGS, testIo(), [src, dst], async (stores) => {
      const from = await stores.open(src);
      const to = await stores.open(dst, { write: true });
      assert.equal(to.store, from.store);
      await copyImage(from.store, 'v1', to.store, { tags: to.tags });
    });
    const check = await LayoutStore.open(join(dir, 'l'));
    assert.equal((await check.resolve('v1-copy'))?.digest, made.root.digest);
    await check.close();

    let closes: Map<ContentStore, boolean[]> | undefined;
    await assert.rejects(
      withStores(ARGS, testIo(), [src, dst], async (stores) => {
        const from = await stores.open(src);
        const to = await stores.open(dst, { write: true });
        closes = countCloses([from.store, to.store]);
        throw new Error('the task failed');
      }),
      /the task failed/,
    );
    assert.deepEqual([...closes!.values()], [[true]]);
  });

  it('does not keep an open that failed: a layout missing when read is made when written', async () => {
    const dir = await tempDir();
    const text = `oci:${join(dir, 'new')}:v1`;
    await withStores(ARGS, testIo(), [text], async (stores) => {
      await assert.rejects(stores.open(text), (e: unknown) => isProvenantError(e));
      const made = await stores.open(text, { write: true });
      assert.deepEqual(await made.store.listTags(), []);
      // Read after it was made: the store that made it.
      assert.equal((await stores.open(text)).store, made.store);
    });
  });

  it('shares an archive among its readers only: one written is a new file, apart from the one read', async () => {
    const dir = await tempDir();
    const layout = await LayoutStore.open(join(dir, 'l'), { create: true });
    await makeImage(layout, { tag: 'v1', seed: 1 });
    await makeImage(layout, { tag: 'v2', seed: 2 });
    const archive = await openLocation(parseLocation(`oci-archive:${join(dir, 'a.tar')}`), { write: true });
    for (const tag of ['v1', 'v2']) await copyImage(layout, tag, archive.store, { tags: [tag] });
    await archive.store.close();
    await layout.close();

    const [v1, v2, out] = ['v1', 'v2', 'v3'].map((tag) => `oci-archive:${join(dir, 'a.tar')}:${tag}`) as [string, string, string];
    await withStores(ARGS, testIo(), [v1, v2, out], async (stores) => {
      const a = await stores.open(v1);
      const b = await stores.open(v2);
      assert.equal(b.store, a.store);
      const written = await stores.open(out, { write: true });
      assert.notEqual(written.store, a.store);
      await copyImage(a.store, 'v1', written.store, { tags: written.tags });
    });
    const read = await openLocation(parseLocation(`oci-archive:${join(dir, 'a.tar')}`));
    // Written at close, from what it held and the copy.
    assert.deepEqual(await read.store.listTags(), ['v1', 'v2', 'v3']);
    await read.store.close();
  });
});

describe('a bare name that reads as a file', () => {
  // The Docker Hub spelling in the hint comes from the reference: written from the text,
  // library/app.tar was docker.io/library/library/app.tar.
  for (const [text, hub] of [
    ['library/app.tar', 'docker.io/library/app.tar:latest'],
    ['app.tar:v1', 'docker.io/library/app.tar:v1'],
    ['library/out.oci:v2', 'docker.io/library/out.oci:v2'],
  ] as const) {
    it(`${text}: USAGE whose hint names the image on Docker Hub as ${hub}`, () => {
      assert.throws(
        () => parseLocationOrPath(text),
        (e: unknown) =>
          isProvenantError(e, 'USAGE') &&
          e.message.endsWith(`names an image on Docker Hub (${hub.replace(/:[^:]*$/, '')})`) &&
          (e.hint ?? '').endsWith(`for Docker Hub write ${hub}`),
      );
    });
  }
});

// The last stop: a missing latest's hint said "a reference without a tag names latest" to one
// who had typed :latest; the reference parser fills it in, so the CLI reads the argument.
describe('a missing latest in a registry', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('notes that a reference without a tag names latest only where the argument wrote no tag', async () => {
    const r = await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `${reg.host}/hint/app:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const bare = await provenant(['inspect', `${reg.host}/hint/app`]);
    assert.equal(bare.status, 3, bare.stderr);
    assert.ok(bare.stderr.includes('hint: tags here: v1; a reference without a tag names latest\n'), bare.stderr);
    for (const typed of [`${reg.host}/hint/app:latest`, `docker://${reg.host}/hint/app:latest`]) {
      const t = await provenant(['inspect', typed]);
      assert.equal(t.status, 3, t.stderr);
      assert.ok(t.stderr.endsWith('hint: tags here: v1\n'), t.stderr);
    }
    // Copied from: the source's argument is the one read.
    const copied = await provenant(['copy', '--quiet', `${reg.host}/hint/app:latest`, `${reg.host}/hint/other:v1`]);
    assert.equal(copied.status, 3, copied.stderr);
    assert.ok(copied.stderr.endsWith('hint: tags here: v1\n'), copied.stderr);
  });

  // digest and policy test resolve a tag with one HEAD, which says no more than "not there":
  // they said "latest is not there" with no hint, where docs/cli.md promised the tags there.
  it('gives the tags there as the hint in digest and policy test too', async () => {
    const dir = await tempDir();
    const r = await provenant(['copy', '--quiet', `oci:${exampleDir}:latest`, `${reg.host}/hint/app:v1`]);
    assert.equal(r.status, 0, r.stderr);
    const policy = join(dir, 'policy.yaml');
    await writeFile(
      policy,
      'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: p\nspec:\n  images:\n  - glob: "**"\n  authorities:\n  - keyless:\n      url: https://fulcio.example\n      identities:\n      - issuer: https://issuer.example\n        subject: someone@example.com\n',
    );
    for (const command of [['digest'], ['policy', 'test', policy]]) {
      const bare = await provenant([...command, `${reg.host}/hint/app`]);
      assert.equal(bare.status, 3, bare.stderr);
      assert.ok(bare.stderr.endsWith('hint: tags here: v1; a reference without a tag names latest\n'), bare.stderr);
      const typed = await provenant([...command, `${reg.host}/hint/app:latest`]);
      assert.equal(typed.status, 3, typed.stderr);
      assert.ok(typed.stderr.endsWith('hint: tags here: v1\n'), typed.stderr);
    }
    // A layout says it alike.
    const layout = await provenant(['digest', `oci:${exampleDir}:nope`]);
    assert.equal(layout.status, 3, layout.stderr);
    assert.match(layout.stderr, /hint: tags here: /);
    // A missing digest has no tags to hint: said as before, "is not there", with no manifest read
    // (which said "get manifest …: not found" in a registry, "manifest … is not in the layout").
    const missing = `sha256:${'a'.repeat(64)}`;
    for (const ref of [`${reg.host}/hint/app@${missing}`, `oci:${exampleDir}@${missing}`]) {
      const gone = await provenant(['digest', ref]);
      assert.equal(gone.status, 3, gone.stderr);
      assert.match(gone.stderr, new RegExp(`: ${missing} is not there`), gone.stderr);
      assert.doesNotMatch(gone.stderr, /manifest/, gone.stderr);
    }
  });
});
