/**
 * `fix` of an index into a docker-archive, which holds one platform's image: the platform named
 * with --platform is the one written (as `crane pull --platform` writes one), and without one the
 * fix refuses before reading anything, naming the platforms there are.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fixImage } from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { isProvenantError } from '../../src/errors.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
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

  it('without --platform, refuses before anything is written, naming the platforms the index has', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: TWO });
    const dst = await DockerArchiveStore.open(join(await tempDir(), 'x.tar'), { write: true });
    const err = await fixImage(src, made.tag, dst, ecr, { tags: ['fixed'], probe: false }).then(
      () => assert.fail('an index cannot go into a docker-archive whole'),
      (e: unknown) => e,
    );
    await dst.close({ discard: true });
    assert.ok(isProvenantError(err) && err.code === 'USAGE', String(err));
    assert.match(err.hint ?? '', /--platform \(it has linux\/amd64, linux\/arm64\)/);
  });
});
