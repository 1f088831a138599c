/**
 * `fix` of an index into a docker-archive, which holds one platform's image: the platform named
 * with --platform is the one written (as `crane pull --platform` writes one); without one, the
 * first of the target's platforms the index has, else this machine's (as `copy` takes); with
 * neither there, the fix refuses before reading anything, naming the platforms there are.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { OperationOptions } from '../../src/io/types.ts';
import { formatPlatform, hostPlatform, parsePlatform } from '../../src/oci/platform.ts';
import type { Descriptor } from '../../src/oci/types.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { isBundleMediaType } from '../../src/sign/storage.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { useTempDir, useTempLayout } from '../helpers/temp.ts';
import { synth } from './images.ts';

const layout = useTempLayout('fix-archive');
const tempDir = useTempDir('fix-archive');
const profiles = await loadProfiles();
const ecr = selectTargets(profiles, 'amazon-ecr')[0]!;
const TWO = [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')];

describe('fix of an index into a docker-archive', () => {
  it('writes the platform --platform names, and says the archive is why the index is not carried', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO, attestations: 'legacy' });
    const path = join(await tempDir(), 'x.tar');
    const dst = await DockerArchiveStore.open(path, { write: true });
    const report = await fixImage(src, made.tag, dst, ecr, { tags: ['fixed'], probe: false, platform: parsePlatform('linux/arm64') });
    await dst.close();
    assert.equal(report.written, true, report.account.join('\n'));
    assert.equal(report.destination?.fixed, made.images[1]!.digest, 'the arm64 manifest, as the source holds it');
    assert.ok(report.applied.some((a) => a.fix === 'single-manifest'));
    assert.ok(
      report.dropped.some((x) => x.digest === made.root.digest && x.why.startsWith(`${dst.location} holds one platform's image`)),
      report.account.join('\n'),
    );
    const back = await DockerArchiveStore.open(path);
    try {
      const image = await back.getManifest(await back.defaultTarget());
      assert.ok(image.kind === 'manifest');
      assert.equal(image.manifest.layers.length, (made.images[1]! as typeof image).manifest.layers.length);
      assert.equal(image.digest, report.destination?.digest);
    } finally {
      await back.close();
    }
  });

  it("without --platform, writes the first of the target's platforms the index has, in the target's order", async () => {
    // Docker runs linux/amd64, then linux/arm64: the index lists arm64 first.
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/arm64'), parsePlatform('linux/amd64')] });
    for (const [name, platform] of [
      ['google-cloud-run', 'linux/amd64'],
      ['docker-engine@18.03', 'linux/amd64'],
    ] as const) {
      const path = join(await tempDir(), 'x.tar');
      const dst = await DockerArchiveStore.open(path, { write: true });
      const report = await fixImage(src, made.tag, dst, selectTargets(profiles, name)[0]!, { tags: ['fixed'], probe: false });
      await dst.close();
      assert.equal(report.written, true, report.account.join('\n'));
      const kept = made.images.find((i) => i.kind === 'manifest' && report.dropped.every((x) => x.digest !== i.digest))!;
      assert.ok(
        report.dropped.some((x) => x.digest === made.root.digest && x.why.endsWith(`the ${platform} manifest takes its place`)),
        `${name}: ${report.account.join('\n')}`,
      );
      assert.equal(kept, made.images[1], name);
    }
  });

  it("without --platform, for a target that names none, writes this machine's platform, as copy does", async () => {
    const src = await layout();
    const host = hostPlatform(process.arch);
    const other = parsePlatform(host.architecture === 's390x' ? 'linux/ppc64le' : 'linux/s390x');
    const made = await synth(src, { platforms: [other, host] });
    const dst = await DockerArchiveStore.open(join(await tempDir(), 'x.tar'), { write: true });
    const report = await fixImage(src, made.tag, dst, ecr, { tags: ['fixed'], probe: false });
    await dst.close();
    assert.equal(report.written, true, report.account.join('\n'));
    assert.ok(
      report.dropped.some((x) => x.digest === made.images[0]!.digest),
      report.account.join('\n'),
    );
    assert.ok(!report.dropped.some((x) => x.digest === made.images[1]!.digest), report.account.join('\n'));
  });

  it('with nothing to choose, refuses before anything is written or any bundle read, naming the platforms the index has', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/s390x'), parsePlatform('linux/ppc64le')] });
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    // A cosign 3 bundle referrer of the index, which a move under a cosign tag would read.
    await attestImage(
      src,
      made.root.digest,
      [statement('https://spdx.dev/Document', {}, [{ name: 'example.org/app', digest: made.root.digest }])],
      {
        signer,
        storage: 'referrers',
      },
    );
    let bundlesRead = 0;
    const counting = new Proxy(src, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (key !== 'readBlob') return typeof value === 'function' ? value.bind(target) : value;
        return (d: Descriptor, o?: OperationOptions) => {
          if (isBundleMediaType(d.mediaType)) bundlesRead++;
          return target.readBlob(d, o);
        };
      },
    });
    const dst = await DockerArchiveStore.open(join(await tempDir(), 'x.tar'), { write: true });
    const err = await fixImage(counting, made.tag, dst, ecr, { tags: ['fixed'], probe: false }).then(
      () => assert.fail('an index cannot go into a docker-archive whole'),
      (e: unknown) => e,
    );
    await dst.close({ discard: true });
    assert.ok(isProvenantError(err) && err.code === 'USAGE', String(err));
    assert.match(err.message, new RegExp(`without this machine's platform \\(${formatPlatform(hostPlatform(process.arch))}\\)`));
    assert.match(err.hint ?? '', /--platform \(it has linux\/s390x, linux\/ppc64le\)/);
    assert.equal(bundlesRead, 0);
  });
});
