/**
 * containerd without a version is the release a user most likely runs (the latest its sources
 * cover), which skips BuildKit's attestation entries: an ordinary buildx image (entries in the
 * index) is accepted, not refused; naming an older release (containerd@1.7.0) checks for the
 * all-platforms failure before 1.7.18.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { checkImage } from '../../src/compat/check.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { synth } from './images.ts';

const layout = useTempLayout('compat-containerd');
const profiles = await loadProfiles();

describe('containerd, by version', () => {
  it('accepts a buildx image by default, and refuses it as 1.7.0 when named so', async () => {
    const store = await layout();
    const made = await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const amd64 = made.images[0]!;
    const s = statement('https://slsa.dev/provenance/v1', {}, [{ name: 'example.org/app', digest: amd64.digest }]);
    await store.putManifest(await storeAttestations(store, made.root, [{ manifest: amd64, statements: [s] }], 'buildkit'), {
      tags: ['1'],
    });
    const [byDefault] = (await checkImage(store, '1', selectTargets(profiles, 'containerd'), { probe: false })).targets;
    assert.equal(byDefault!.assumedVersion, true);
    assert.notEqual(byDefault!.verdict, 'refused', JSON.stringify(byDefault!.problems.map((p) => p.rule)));
    const [older] = (await checkImage(store, '1', selectTargets(profiles, 'containerd@1.7.0'), { probe: false })).targets;
    assert.equal(older!.verdict, 'refused');
    assert.ok(older!.problems.some((p) => p.rule === 'all-platforms-attestations'));
  });
});
