/**
 * GitLab has no referrers API, and reads a `sha256-<hex>` tag (the referrers tag fallback) as the
 * digest, so a referrer stored there is found by no client. Its fix stores BuildKit's attestations
 * under cosign's `.att` tag (which GitLab reads as a tag), never as referrers; with `include:
 * 'all'` the referrers the image has go there too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { checkImage } from '../../src/compat/check.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { readImageGraph } from '../../src/compat/graph.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { cosignTagOf, synth } from './images.ts';

const layout = useTempLayout('compat-gitlab');
const [gitlab] = selectTargets(await loadProfiles(), 'gitlab');

describe('fix --target gitlab', () => {
  it("stores BuildKit 0.32's attestations under the subject's .att tag, not as referrers", async () => {
    const src = await layout();
    const made = await synth(src, { attestations: 'oci-artifact' });
    const dst = await layout();
    const fixed = await fixImage(src, made.tag, dst, gitlab!, { tags: ['fixed'], probe: false });
    assert.ok(fixed.written, fixed.account.join('\n'));
    const image = made.images[0]!.digest;
    assert.deepEqual(await dst.referrers(image), []);
    assert.ok((await dst.listTags()).includes(cosignTagOf(image, 'att')), (await dst.listTags()).join(', '));
    const graph = await readImageGraph(dst, 'fixed');
    assert.deepEqual(
      graph.attachments.map((a) => a.attachment.storage),
      ['cosign'],
    );
    const after = await checkImage(dst, 'fixed', [gitlab!], { probe: false });
    assert.equal(after.targets[0]!.verdict, 'accepted');
  });

  it('with include all, moves an attestation referrer there too, and the referrers-api warning goes', async () => {
    const src = await layout();
    const made = await synth(src, { referrers: [{ on: 'image', artifactType: ArtifactType.BuildkitAttestation }] });
    const before = await checkImage(src, made.tag, [gitlab!], { probe: false });
    assert.deepEqual(
      before.targets[0]!.problems.map((p) => p.rule),
      ['referrers-api'],
    );
    const dst = await layout();
    const fixed = await fixImage(src, made.tag, dst, gitlab!, { tags: ['fixed'], include: 'all', probe: false });
    assert.ok(fixed.written, fixed.account.join('\n'));
    assert.deepEqual(await dst.referrers(made.images[0]!.digest), []);
    assert.equal(fixed.after?.verdict, 'accepted', fixed.account.join('\n'));
  });
});
