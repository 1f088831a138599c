// Which key a cosign `.att` layer names, as inspect and report read it: Provenant's envelope
// carries the key id in `keyid`; cosign 2's leaves it empty, and that one names no key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { renderInspect } from '../../src/cli/render.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { encodeEnvelope, parseEnvelope } from '../../src/sign/payload.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { appendCosignLayer, findSignatures } from '../../src/sign/storage.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const tempLayout = useTempLayout('inspect-keyid');

describe('the key a .att envelope names', () => {
  it("is Provenant's key id in inspect and report, and no key for cosign 2's empty keyid", async () => {
    const pair = generateSigningKeyPair();
    const id = keyId(pair.publicKey);
    const ours = await tempLayout();
    const made = await makeImage(ours, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    await attestImage(ours, 'v1', [st], { signer: new KeySigner(pair.privateKey), storage: 'cosign' });

    const inspected = await inspectImage(ours, 'v1', 'oci:ours:v1');
    const attachments = (r: typeof inspected) => [...r.attachments, ...r.manifests.flatMap((m) => m.attachments)];
    const att = attachments(inspected).find((a) => a.kind === 'attestation' && a.storage === 'cosign');
    assert.deepEqual(
      att?.signatures?.map((s) => [s.signed, s.keyId]),
      [[true, id]],
    );
    assert.match(renderInspect(inspected), new RegExp(`\\.att\\) +signed by key ${id.replace(/[+/]/g, '\\$&')}`));
    const report = await gatherReport(ours, 'v1', { targets: [] });
    const signers = [...report.attachments, ...report.platforms.flatMap((p) => p.attachments)].flatMap((a) => a.signers);
    assert.deepEqual(
      signers.map((s) => s.keyId),
      [id],
    );

    // The same envelope as cosign 2 writes it: keyid "".
    const [found] = (await findSignatures(ours, made.root.digest)).filter((f) => f.kind === 'attestation');
    assert.ok(found?.format === 'cosign-layer' && found.layer !== undefined);
    const env = parseEnvelope(found.layer.payload);
    const cosign2 = { ...found.layer, payload: encodeEnvelope({ ...env, signatures: env.signatures.map((x) => ({ ...x, keyid: '' })) }) };
    const theirs = await tempLayout();
    await theirs.putManifest(made.root, { tags: ['v1'] });
    await appendCosignLayer(theirs, made.root.digest, 'att', cosign2);
    const unnamed = await inspectImage(theirs, 'v1', 'oci:theirs:v1');
    assert.deepEqual(
      attachments(unnamed)
        .find((a) => a.kind === 'attestation')
        ?.signatures?.map((s) => [s.signed, s.keyId]),
      [[true, undefined]],
    );
    assert.match(renderInspect(unnamed), /\.att\) +signed by an unnamed key/);
  });
});
