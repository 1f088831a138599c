// copyImage through the real registry: round trips, mounts, referrers and faults.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readImageGraph } from '../../src/compat/graph.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import type { OperationOptions } from '../../src/io/types.ts';
import { cosignTag, encodeJson, parseStored, referrersTag, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { ImageIndex } from '../../src/oci/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { appendCosignLayer } from '../../src/sign/storage.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import type { ContentStore, PutManifestOptions } from '../../src/store/types.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { makeImage, makeReferrer, simpleSigningLayer } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { failingTag, signedOverOld } from '../helpers/signed-over-old.ts';
import { useTempLayout } from '../helpers/temp.ts';

const run = promisify(execFile);

/**
 * A proxy in front of the registry that answers 403 DENIED to every tag list and forwards the
 * rest, as registries do that allow pulls and not listing; distribution has no such setting.
 */
async function noListingProxy(target: string): Promise<{ host: string; stop: () => Promise<void> }> {
  const [hostname, port] = target.split(':') as [string, string];
  const server = createServer((req, res) => {
    if (req.url?.includes('/tags/list') === true) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"DENIED","message":"tag listing is not allowed"}]}');
      return;
    }
    const forward = httpRequest({ hostname, port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { host, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}
const layout = useTempLayout('creg');

describe('copy through the real registry', { skip: registryMissing }, () => {
  const reg = useRegistry();
  const store = (host: string, repo: string) =>
    new RegistryStore(new RegistryClient(host, { retry: { attempts: 6, baseDelayMs: 10, maxDelayMs: 200 } }), repo);

  it('round-trips layout → registry → layout byte for byte, as skopeo sees it too', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1', layers: 3, layerBytes: 100_000 });
    const remote = store(reg.host, 'round/trip');
    const pushed = await copyImage(src, 'v1', remote, { tags: ['v1'] });
    assert.equal(pushed.digest, made.root.digest);
    const { stdout } = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/round/trip:v1`]);
    assert.equal(digestOf(stdout), made.root.digest);
    const back = await layout();
    await copyImage(remote, 'v1', back, { tags: ['back'] });
    assert.deepEqual((await back.getManifest('back')).bytes, made.root.bytes);
    for (const m of made.manifests) assert.deepEqual((await back.getManifest(m.digest)).bytes, m.bytes);
    const again = await copyImage(src, 'v1', remote, { tags: ['v1'] });
    assert.equal(again.blobs.stored, 0, 'a second push uploads no blob');
    assert.equal(again.manifests.existed, 1);
  });

  it('pushes an image already there with a HEAD per tag, and a PUT only for a tag that does not name it yet', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1', layers: 2 });
    await copyImage(src, 'v1', store(reg.host, 'noop/push'), { tags: ['v1'] });
    const proxy = await startFaultProxy(reg.host, {});
    const requests = () =>
      proxy
        .log()
        .filter((e) => e.path !== '/v2/')
        .map((e) => `${e.method} ${e.path.replace('/v2/noop/push/manifests/', '')}`);
    try {
      const remote = store(proxy.host, 'noop/push');
      const again = await copyImage(src, 'v1', remote, { tags: ['v1', 'v2'] });
      assert.equal(again.manifests.existed, 1);
      assert.equal(again.blobs.stored + again.blobs.existed, 0, 'no blob is asked about');
      assert.deepEqual(requests(), ['HEAD v1', 'HEAD v2', 'PUT v2']);
      assert.equal((await store(reg.host, 'noop/push').resolve('v2'))?.digest, made.root.digest);
      const before = requests().length;
      await copyImage(src, 'v1', remote, { tags: ['v1', 'v2'] });
      assert.deepEqual(requests().slice(before), ['HEAD v1', 'HEAD v2']);
      // A tag that names something else is moved, after the image is found by its digest.
      await copyImage(src, made.manifests[0]!.digest, store(reg.host, 'noop/push'), { tags: ['v3'] });
      const moved = requests().length;
      await copyImage(src, 'v1', remote, { tags: ['v3'] });
      assert.deepEqual(requests().slice(moved), ['HEAD v3', `HEAD ${made.root.digest}`, 'PUT v3']);
      assert.equal((await store(reg.host, 'noop/push').resolve('v3'))?.digest, made.root.digest);
    } finally {
      await proxy.stop();
    }
  });

  it('keeps the real BuildKit attestations through the registry and skopeo copy --all', { skip: fixturesMissing }, async () => {
    const bk = await openOciArchive(fixture('oci', 'buildkit-oci-layout-tar_2-platforms-with-legacy-attestation-manifests.tar'));
    const root = bk.index.manifests[0]!.digest;
    await copyImage(bk, root, store(reg.host, 'bk/src'), { tags: ['v1'] });
    await bk.close();
    await run('skopeo', [
      'copy',
      '--all',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      `docker://${reg.host}/bk/src:v1`,
      `docker://${reg.host}/bk/dst:v1`,
    ]);
    const result = await inspectImage(store(reg.host, 'bk/dst'), 'v1', 'bk');
    assert.equal(result.digest, root);
    assert.deepEqual(
      result.manifests.map((m) => m.attachments.map((a) => [a.storage, a.predicateTypes.join()])),
      [[['buildkit', 'https://slsa.dev/provenance/v0.2']], [['buildkit', 'https://slsa.dev/provenance/v0.2']]],
    );
  });

  it('carries referrers to distribution 2.8 through the tag fallback, and inspect finds them', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const sbom = await makeReferrer(src, made.manifests[0]!, 'application/spdx+json', 'sbom');
    const sig = await makeReferrer(src, made.root, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig');
    const remote = store(reg.host, 'with/referrers');
    const r = await copyImage(src, 'v1', remote, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(r.referrers.sort(), [sbom.digest, sig.digest].sort());
    const tags = await remote.listTags();
    assert.ok(tags.includes(`sha256-${made.manifests[0]!.digest.slice(7)}`), tags.join());
    const result = await inspectImage(remote, 'v1', 'x');
    assert.deepEqual(
      result.manifests[0]!.attachments.map((a) => [a.storage, a.kind, a.digest]),
      [['referrers', 'sbom', sbom.digest]],
    );
    assert.deepEqual(
      result.attachments.map((a) => a.digest),
      [sig.digest],
    );
    // Registry to layout keeps them too.
    const back = await layout();
    await copyImage(remote, 'v1', back, { withReferrers: true });
    assert.deepEqual(
      (await back.referrers(made.root.digest)).map((d) => d.digest),
      [sig.digest],
    );
  });

  it('adds again to the referrers tag a referrer the registry holds but the tag lacks (a copy stopped between the two)', async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const a = await makeReferrer(src, made.root, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig a');
    const b = await makeReferrer(src, made.root, 'application/vnd.dev.cosign.artifact.sig.v1+json', 'sig b');
    const remote = store(reg.host, 'referrers/repair');
    await copyImage(src, 'v1', remote, { tags: ['v1'], withReferrers: true });
    // The state a crash after b's manifest PUT leaves: b is there by digest, the tag lists a alone.
    const tag = referrersTag(made.root.digest);
    const fallback = await remote.getManifest(tag);
    assert.equal(fallback.kind, 'index');
    const only: ImageIndex = { ...fallback.index, manifests: fallback.index.manifests.filter((m) => m.digest === a.digest) };
    await remote.client.putManifest('referrers/repair', tag, parseStored(encodeJson(only), { mediaType: MediaType.OciIndex }));
    assert.equal((await remote.resolve(b.digest))?.digest, b.digest);
    assert.deepEqual(
      (await remote.referrers(made.root.digest)).map((d) => d.digest),
      [a.digest],
    );
    const again = await copyImage(src, 'v1', remote, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(again.referrers.sort(), [a.digest, b.digest].sort());
    assert.deepEqual(again.referrersExisted, [a.digest], 'b is written again to be listed: not one the registry had');
    assert.deepEqual((await remote.referrers(made.root.digest)).map((d) => d.digest).sort(), [a.digest, b.digest].sort());
  });

  it('with referrers, tags the image only once its signatures are there, and leaves the tag where it was when they fail', async () => {
    const src = await layout();
    const repo = 'tags/last';
    const clean = store(reg.host, repo);
    const { made, old, ref, sigTag } = await signedOverOld(src, clean);
    // What a reader of the registry sees as each tag or referrer is written: what v1 names then.
    const seen: string[] = [];
    const v1 = async () => ((await clean.resolve('v1'))?.digest === made.root.digest ? 'new' : 'old');
    const watched = (failOn: string | undefined) =>
      failingTag(store(reg.host, repo), failOn, async (stored, o) => {
        if (stored.digest === ref.digest) seen.push(`referrer: v1 ${await v1()}`);
        for (const tag of o?.tags ?? []) seen.push(`${tag === sigTag ? '.sig' : tag}: v1 ${await v1()}`);
      });
    await assert.rejects(copyImage(src, 'v1', watched(sigTag), { tags: ['v1'], withReferrers: true }), /writing .*\.sig failed/);
    assert.deepEqual(seen, ['referrer: v1 old']);
    assert.equal((await clean.resolve('v1'))?.digest, old.root.digest, 'v1 still names what it did');
    seen.length = 0;
    await copyImage(src, 'v1', watched(undefined), { tags: ['v1'], withReferrers: true });
    assert.deepEqual(seen, ['.sig: v1 old', 'v1: v1 new']);
    // Done again, nothing is written: the tag names the image, the signatures are there.
    const proxy = await startFaultProxy(reg.host, {});
    try {
      await copyImage(src, 'v1', store(proxy.host, repo), { tags: ['v1'], withReferrers: true });
      assert.deepEqual(
        proxy.log().filter((e) => e.method === 'PUT' || e.method === 'POST' || e.method === 'PATCH'),
        [],
      );
    } finally {
      await proxy.stop();
    }
  });

  it("brings a new cosign .sig to an image the registry has, and merges it with the registry's own", async () => {
    const src = await layout();
    const made = await makeImage(src, { tag: 'v1' });
    const remote = store(reg.host, 'cosign/merge');
    await copyImage(src, 'v1', remote, { tags: ['v1'] });
    const layer = simpleSigningLayer;
    // The image is there already, its signature not: the signature image's blobs must be sent.
    await appendCosignLayer(src, made.root.digest, 'sig', layer('first'));
    const r = await copyImage(src, 'v1', remote, { tags: ['v1'], withReferrers: true });
    assert.deepEqual(r.cosignTags, [cosignTag(made.root.digest, 'sig')]);
    await appendCosignLayer(remote, made.root.digest, 'sig', layer('signed-in-the-registry'));
    await appendCosignLayer(src, made.root.digest, 'sig', layer('second'));
    await copyImage(src, 'v1', remote, { tags: ['v1'], withReferrers: true });
    const sig = await remote.getManifest(cosignTag(made.root.digest, 'sig'));
    assert.deepEqual(sig.kind === 'manifest' ? sig.manifest.layers.map((l) => l.annotations?.['dev.cosignproject.cosign/signature']) : [], [
      'first',
      'signed-in-the-registry',
      'second',
    ]);
  });

  for (const had of ['one signature', 'none'] as const) {
    it(`reads its .sig back and merges again when a signer wrote over it from a read made before (the registry had ${had})`, async () => {
      // A registry has no conditional write, so whether a copy and a signer overlap is a matter of
      // timing; this makes the overlap happen every time. Right after the copy writes its image
      // (merged, or the source's as it is), Bob writes his over it from a read made before (Alice's
      // image, or nothing).
      const src = await layout();
      const made = await makeImage(src, { tag: 'v1' });
      const repo = `cosign/race-${had.replace(' ', '-')}`;
      const remote = store(reg.host, repo);
      await copyImage(src, 'v1', remote, { tags: ['v1'] });
      const tag = cosignTag(made.root.digest, 'sig');
      const layer = simpleSigningLayer;
      if (had === 'one signature') await appendCosignLayer(remote, made.root.digest, 'sig', layer('alice'));
      await appendCosignLayer(src, made.root.digest, 'sig', layer('copied'));
      const aliceOnly = await remote.resolve(tag);
      const forward = (target: ContentStore, name: string | symbol, receiver: unknown) => {
        const value = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      };
      // Bob's reads of the tag find what it named before the copy wrote (Alice's image, or nothing) until he has written his.
      const stale = (target: ContentStore): ContentStore => {
        let written = false;
        return new Proxy(target, {
          get(t, name, receiver) {
            if (name === 'resolve')
              return async (ref: string, o?: OperationOptions) => (ref === tag && !written ? aliceOnly : t.resolve(ref, o));
            if (name === 'putManifest')
              return async (stored: Stored, o?: PutManifestOptions) => {
                await t.putManifest(stored, o);
                if (o?.tags?.includes(tag) === true) written = true;
              };
            return forward(t, name, receiver);
          },
        });
      };
      let bobSigned: Promise<unknown> | undefined;
      const racing = new Proxy(store(reg.host, repo), {
        get(target, name, receiver) {
          if (name === 'putManifest')
            return async (stored: Stored, o?: PutManifestOptions) => {
              await target.putManifest(stored, o);
              if (o?.tags?.includes(tag) === true && bobSigned === undefined) {
                bobSigned = appendCosignLayer(stale(store(reg.host, repo)), made.root.digest, 'sig', layer('bob'));
                await bobSigned;
              }
            };
          return forward(target, name, receiver);
        },
      });
      const r = await copyImage(src, 'v1', racing, { tags: ['v1'], withReferrers: true });
      assert.ok(bobSigned !== undefined, 'Bob wrote over the copy');
      assert.deepEqual(r.cosignTags, [tag]);
      const sig = await remote.getManifest(tag);
      assert.deepEqual(
        sig.kind === 'manifest' ? sig.manifest.layers.map((l) => l.annotations?.['dev.cosignproject.cosign/signature']) : [],
        [...(had === 'one signature' ? ['alice'] : []), 'bob', 'copied'],
      );
    });
  }

  for (const had of ['one signature', 'none'] as const) {
    it(`keeps, and says so, an index another writer puts under the .sig just after the copy wrote it (the registry had ${had})`, async () => {
      // As an index found under the tag at the first read is kept: whichever read finds it.
      const src = await layout();
      const made = await makeImage(src, { tag: 'v1' });
      const repo = `cosign/index-${had.replace(' ', '-')}`;
      const remote = store(reg.host, repo);
      await copyImage(src, 'v1', remote, { tags: ['v1'] });
      const tag = cosignTag(made.root.digest, 'sig');
      const layer = simpleSigningLayer;
      if (had === 'one signature') await appendCosignLayer(remote, made.root.digest, 'sig', layer('alice'));
      const copied = await appendCosignLayer(src, made.root.digest, 'sig', layer('copied'));
      const child = made.manifests[0]!;
      const index = parseStored(
        encodeJson({
          schemaVersion: 2,
          mediaType: MediaType.OciIndex,
          manifests: [{ mediaType: child.mediaType, digest: child.digest, size: child.bytes.byteLength }],
        }),
      );
      let written: string | undefined;
      const racing = new Proxy(store(reg.host, repo), {
        get(target, name, receiver) {
          if (name === 'putManifest')
            return async (stored: Stored, o?: PutManifestOptions) => {
              await target.putManifest(stored, o);
              if (o?.tags?.includes(tag) === true && written === undefined) {
                written = stored.digest;
                await remote.putManifest(index, { tags: [tag] });
              }
            };
          const value = Reflect.get(target, name, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const warnings: string[] = [];
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const r = await copyImage(src, 'v1', racing, { tags: ['v1'], withReferrers: true, logger });
      assert.ok(written !== undefined, 'the index went in after the copy wrote the tag');
      if (had === 'none') assert.equal(written, copied.manifest, "the source's image was written as it is");
      assert.deepEqual([r.cosignTags, r.cosignTagsKept], [[], [tag]]);
      assert.equal((await remote.resolve(tag))?.digest, index.digest, 'the index is kept');
      assert.equal((await remote.resolve(written))?.digest, written, 'the image it displaced is there, untagged');
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.ok(warnings[0]!.includes(`another writer put it there after ${written} was written`), warnings[0]);
      assert.match(warnings[0]!, /the index was kept.*pointing .*\.sig back at it/);
    });
  }

  for (const refusal of ['403 DENIED', '404 NAME_UNKNOWN'] as const) {
    it(`reads the cosign tags by name from a registry that refuses to list tags (${refusal}), and says so`, async () => {
      const repo = `nolist/${refusal.slice(0, 3)}`;
      const made = await makeImage(store(reg.host, repo), { tag: 'v1' });
      const layer = simpleSigningLayer();
      await appendCosignLayer(store(reg.host, repo), made.root.digest, 'sig', layer);
      await appendCosignLayer(store(reg.host, repo), made.manifests[0]!.digest, 'att', layer);
      const proxy =
        refusal === '403 DENIED'
          ? await noListingProxy(reg.host)
          : await startFaultProxy(reg.host, {
              // Listed as another repository, which the registry does not know.
              rewrite: (_method, url) => (url.includes('/tags/list') ? url.replace(`/v2/${repo}/`, '/v2/nolist/unknown/') : undefined),
            });
      try {
        const warnings: string[] = [];
        const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
        const dst = await layout();
        const r = await copyImage(store(proxy.host, repo), 'v1', dst, { tags: ['v1'], withReferrers: true, logger });
        const expected = [cosignTag(made.root.digest, 'sig'), cosignTag(made.manifests[0]!.digest, 'att')];
        assert.deepEqual([...r.cosignTags].sort(), [...expected].sort());
        for (const tag of expected) assert.ok((await dst.resolve(tag)) !== undefined, `${tag} copied`);
        assert.match(warnings.join('\n'), /did not list its tags .*read by name: 2 found/);
        // What inspect shows, and what check and fix judge, have them too where the list is refused
        // (a NAME_UNKNOWN answer is a repository without tags to them, as distribution means it).
        if (refusal === '403 DENIED') {
          const inspected = await inspectImage(store(proxy.host, repo), 'v1', repo);
          const attached = [...inspected.attachments, ...inspected.manifests.flatMap((m) => m.attachments)];
          assert.deepEqual(
            attached
              .map((a) => a.tag)
              .filter((t) => t !== undefined)
              .sort(),
            [...expected].sort(),
          );
          // The graph check and fix read: what it finds with the list (the index's own here).
          const graph = await readImageGraph(store(proxy.host, repo), 'v1');
          const listed = await readImageGraph(store(reg.host, repo), 'v1');
          assert.deepEqual(
            graph.attachments.map((a) => a.attachment.tag),
            listed.attachments.map((a) => a.attachment.tag),
          );
          assert.deepEqual(
            graph.attachments.map((a) => a.attachment.tag),
            [cosignTag(made.root.digest, 'sig')],
          );
          assert.match(graph.notes.join('\n'), /did not list its tags .*asked for by name/);
        }
      } finally {
        await proxy.stop();
      }
    });
  }

  it('fails, rather than leave the cosign tags behind, when listing tags fails otherwise (500)', async () => {
    const made = await makeImage(store(reg.host, 'nolist/failing'), { tag: 'v1' });
    await appendCosignLayer(store(reg.host, 'nolist/failing'), made.root.digest, 'sig', simpleSigningLayer());
    const proxy = await startFaultProxy(reg.host, { status500Every: 1, match: (_method, path) => path.endsWith('/tags/list') });
    try {
      const src = new RegistryStore(
        new RegistryClient(proxy.host, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
        'nolist/failing',
      );
      await assert.rejects(copyImage(src, 'v1', await layout(), { tags: ['v1'], withReferrers: true }), (e: unknown) =>
        isProvenantError(e, 'REGISTRY'),
      );
      // Nor does inspect show the image as unsigned.
      await assert.rejects(inspectImage(src, 'v1', 'nolist/failing'), (e: unknown) => isProvenantError(e, 'REGISTRY'));
    } finally {
      await proxy.stop();
    }
  });

  it('completes through 500s, 429s and dropped connections', async () => {
    const proxy = await startFaultProxy(reg.host, {
      status500Every: 5,
      status429Every: 11,
      retryAfterSeconds: 0,
      dropEvery: 7,
      maxFaults: 12,
    });
    try {
      const src = await layout();
      const made = await makeImage(src, { tag: 'v1', layers: 4, layerBytes: 300_000 });
      const r = await copyImage(src, 'v1', store(proxy.host, 'faulty/ok'), { tags: ['v1'] });
      assert.equal(r.digest, made.root.digest);
      assert.ok(proxy.stats().faults > 0, 'the proxy injected faults');
      const clean = store(reg.host, 'faulty/ok');
      assert.deepEqual((await clean.getManifest('v1')).bytes, made.root.bytes);
    } finally {
      await proxy.stop();
    }
  });

  it('fails clearly when faults never stop, leaving no tag', async () => {
    const proxy = await startFaultProxy(reg.host, { status500Every: 1, match: (method) => method === 'PUT' || method === 'PATCH' });
    try {
      const src = await layout();
      await makeImage(src, { tag: 'v1' });
      await assert.rejects(
        copyImage(src, 'v1', store(proxy.host, 'faulty/never'), { tags: ['v1'] }),
        (e: unknown) => isProvenantError(e) && e.where !== undefined,
      );
      assert.deepEqual(
        await store(reg.host, 'faulty/never')
          .listTags()
          .catch(() => []),
        [],
      );
    } finally {
      await proxy.stop();
    }
  });
});
