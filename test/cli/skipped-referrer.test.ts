/**
 * A layout whose index.json lists a manifest that cannot be read (its blob changed after it was
 * written) and that names another image: every command that lists the image's referrers passes
 * over it, goes on with the good signatures, and names it on standard error once per run, through
 * the CLI's logger. The store warns once, however many lookups a command makes (a policy verifies
 * for each authority and each kind). sign and attest write to copies of the layout.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { statement } from '../../src/attest/storage.ts';
import { type Digest, digestHex } from '../../src/oci/digest.ts';
import type { ReportData } from '../../src/report/data.ts';
import { encryptPrivateKey, generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenantAsync as provenant } from './provenant-async.ts';

const tempDir = useTempDir('cli-skipped-referrer');
const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const PREDICATE = 'https://example.org/predicate/v1';
const PASSWORD = 'correct horse battery staple';

// Two authorities, the first with a key that signed nothing, the second with an attestation rule:
// the image's referrers are looked up for each authority, and for signatures and attestations.
const POLICY = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: signed-and-attested
spec:
  images:
  - glob: "**"
  authorities:
  - name: other-key
    key:
      secretRef:
        name: other.pub
  - name: release-key
    key:
      secretRef:
        name: cosign.pub
    attestations:
    - name: example
      predicateType: ${PREDICATE}
`;

describe('a manifest of the layout that cannot be read and names another image', () => {
  let dir: string;
  let ref: string;
  let skipped: Digest;
  /** The digest of the signed image (v1). */
  let signed: Digest;

  before(async () => {
    dir = await tempDir();
    const path = join(dir, 'layout');
    const store = await LayoutStore.open(path, { create: true });
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const signer = new KeySigner(alice.privateKey);
    await signImage(store, 'v1', { signer, dockerReference: 'example.org/app' });
    const about = [{ name: 'example.org/app', digest: made.root.digest }];
    await attestImage(store, made.root.digest, [statement(PREDICATE, { ok: true }, about)], { signer, storage: 'referrers' });
    // A referrer of another image in the same layout, changed after it was written: the same
    // length, no longer its digest.
    const other = await makeImage(store, { tag: 'other', seed: 7, platforms: [{ os: 'linux', architecture: 'arm64' }] });
    const tampered = await makeReferrer(store, other.root, 'application/vnd.example.sig', 'tampered');
    await store.close();
    skipped = tampered.digest;
    signed = made.root.digest;
    const blob = join(path, 'blobs', 'sha256', digestHex(skipped));
    const text = await readFile(blob, 'utf8');
    const changed = text.replace('1970-01-01T00:00:00Z', '1970-01-01T00:00:01Z');
    assert.notEqual(changed, text);
    await writeFile(blob, changed);

    await writeFile(join(dir, 'cosign.pub'), publicKeyPem(alice.publicKey));
    await writeFile(join(dir, 'other.pub'), publicKeyPem(bob.publicKey));
    await writeFile(join(dir, 'other.key'), await encryptPrivateKey(bob.privateKey, PASSWORD));
    await writeFile(join(dir, 'predicate.json'), JSON.stringify({ ok: true }));
    await writeFile(join(dir, 'policy.yaml'), POLICY);
    ref = `oci:${path}:v1`;
  });

  /** A copy of the layout for a command that writes to it, so that the other cases see it as made. */
  const copyOfLayout = async (name: string) => {
    await cp(join(dir, 'layout'), join(dir, name), { recursive: true });
    return `oci:${join(dir, name)}:v1`;
  };

  /** The lines of `stderr` that name the skipped manifest: one, the warning. */
  const warnings = (stderr: string) => stderr.split('\n').filter((l) => l.includes(skipped));

  const assertWarnedOnce = (stderr: string) => {
    const lines = warnings(stderr);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, new RegExp(`^warning: .*index\\.json lists manifest ${skipped}, which cannot be read .*passed over`));
  };

  it('verify --key: the signatures verify, and the manifest is named once', async () => {
    const r = await provenant(['verify', '--key', 'cosign.pub', ref], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 of 2 signatures verified/);
    assertWarnedOnce(r.stderr);
  });

  it('verify-attestation: the attestation verifies, and the manifest is named once', async () => {
    const r = await provenant(['verify-attestation', '--key', 'cosign.pub', '--type', PREDICATE, ref], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 of 1 attestations? verified/);
    assertWarnedOnce(r.stderr);
  });

  /**
   * A copy of the layout whose statement is also in cosign's .att tag, for the policy: its key
   * authority takes the legacy format only (no signatureFormat is legacy, and policy-controller
   * verifies bundles only keyless). Made once.
   */
  let legacyCopy: Promise<string> | undefined;
  const withLegacyAttestation = () => {
    legacyCopy ??= (async () => {
      const copy = await copyOfLayout('legacy-attested');
      const store = await LayoutStore.open(join(dir, 'legacy-attested'));
      const about = [{ name: 'example.org/app', digest: signed }];
      await attestImage(store, signed, [statement(PREDICATE, { ok: true }, about)], {
        signer: new KeySigner(alice.privateKey),
        storage: 'cosign',
      });
      await store.close();
      return copy;
    })();
    return legacyCopy;
  };

  it('verify --policy and policy test: every lookup of every authority, and the manifest named once', async () => {
    const copy = await withLegacyAttestation();
    for (const args of [
      ['verify', '--policy', 'policy.yaml', copy],
      ['policy', 'test', 'policy.yaml', copy],
    ]) {
      const r = await provenant(args, { cwd: dir });
      assert.equal(r.status, 0, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /: PASS$/m);
      assert.match(r.stdout, /ok {3}authority release-key \(key\)/);
      assertWarnedOnce(r.stderr);
    }
  });

  it('inspect, as text and as JSON: the manifest is named once', async () => {
    for (const format of ['text', 'json']) {
      const r = await provenant(['inspect', '--format', format, ref], { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assertWarnedOnce(r.stderr);
    }
  });

  it('reproduce: the image has no provenance to replay, and the manifest is named once', async () => {
    const r = await provenant(['reproduce', '--key', 'cosign.pub', ref], { cwd: dir });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /no SLSA provenance is attached to this platform image/);
    assertWarnedOnce(r.stderr);
  });

  it('sign: the signatures are written, and the manifest is named once', async () => {
    const copy = await copyOfLayout('to-sign');
    const r = await provenant(['sign', '--key', 'other.key', copy], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: 2 signature\(s\) added, 0 already there\n/);
    assertWarnedOnce(r.stderr);
    const verified = await provenant(['verify', '--key', 'other.pub', copy], { cwd: dir });
    assert.equal(verified.status, 0, verified.stderr);
  });

  it('attest: the statement is attached and signed, and the manifest is named once', async () => {
    const copy = await copyOfLayout('to-attest');
    const args = ['attest', '--key', 'other.key', '--predicate', 'predicate.json', '--type', PREDICATE, copy];
    const r = await provenant(args, { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^attached https:\/\/example\.org\/predicate\/v1 to the index and its 1 platform image\(s\) of .* \(referrers, signed with /,
    );
    assertWarnedOnce(r.stderr);
    // attest attaches to each platform image (and to the index, as cosign attests the digest named).
    const check = ['verify-attestation', '--key', 'other.pub', '--type', PREDICATE, '--platform', 'linux/amd64', copy];
    const verified = await provenant(check, { cwd: dir });
    assert.equal(verified.status, 0, verified.stderr);
  });

  it('report, as a page and as JSON: the signatures are listed, and the manifest is named once', async () => {
    const page = await provenant(['report', ref, '-o', 'report.html', '--target', 'none'], { cwd: dir });
    assert.equal(page.status, 0, page.stderr);
    assert.match(page.stdout, /^report\.html: .* \(1 platform\(s\)\)\n$/);
    assertWarnedOnce(page.stderr);
    const json = await provenant(['report', ref, '--format', 'json', '--target', 'none'], { cwd: dir });
    assert.equal(json.status, 0, json.stderr);
    assertWarnedOnce(json.stderr);
    const data = JSON.parse(json.stdout) as ReportData;
    assert.equal(data.reference, ref);
    assert.deepEqual(data.attachments.map((a) => `${a.storage} ${a.kind}`).sort(), [
      'cosign signature',
      'referrers attestation',
      'referrers signature',
    ]);
    // The manifest that cannot be read is what the page's Notes list (as the warning said it).
    assert.equal(data.notes.length, 1, data.notes.join('\n'));
    assert.match(data.notes[0] ?? '', /lists manifest sha256:[0-9a-f]{64}, which cannot be read .*; passed over while listing referrers$/);
  });

  it('verify, verify-attestation, verify --policy and policy test of one image named two ways: one store, the manifest named once', async () => {
    // The same layout by tag and by digest: one store, read once per run. (Spelled two ways, as
    // oci:/abs/layout and oci:./layout, it is two stores, each named as spelled: stores.test.ts.)
    const byDigest = `oci:${join(dir, 'layout')}@${signed}`;
    const legacy = await withLegacyAttestation();
    const legacyByDigest = `oci:${join(dir, 'legacy-attested')}@${signed}`;
    for (const [args, verified] of [
      [['verify', '--key', 'cosign.pub', ref, byDigest], /2 of 2 signatures verified/g],
      [['verify-attestation', '--key', 'cosign.pub', '--type', PREDICATE, ref, byDigest], /1 of 1 attestations? verified/g],
      [['verify', '--policy', 'policy.yaml', legacy, legacyByDigest], /: PASS$/gm],
      [['policy', 'test', 'policy.yaml', legacy, legacyByDigest], /: PASS$/gm],
    ] as const) {
      const r = await provenant([...args], { cwd: dir });
      assert.equal(r.status, 0, `${args.join(' ')}\n${r.stdout}${r.stderr}`);
      // Each image verified.
      assert.equal(r.stdout.match(verified)?.length, 2, r.stdout);
      assertWarnedOnce(r.stderr);
    }
  });

  it('diff of two images of one layout: one store, the manifest named once', async () => {
    const copy = await copyOfLayout('two-images');
    const store = await LayoutStore.open(join(dir, 'two-images'));
    await makeImage(store, { tag: 'v2', seed: 3, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await store.close();
    const r = await provenant(['diff', copy, `oci:${join(dir, 'two-images')}:v2`], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^linux\/amd64: /m);
    assertWarnedOnce(r.stderr);
  });

  it('copy to another tag of the same layout: written through the one store, the manifest named once', async () => {
    const copy = await copyOfLayout('retag');
    const r = await provenant(['copy', '--with-referrers', copy, 'oci:./retag:v1-copy'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assertWarnedOnce(r.stderr);
    const store = await LayoutStore.open(join(dir, 'retag'));
    try {
      assert.deepEqual(await store.resolve('v1-copy'), await store.resolve('v1'));
    } finally {
      await store.close();
    }
    const verified = await provenant(['verify', '--key', 'cosign.pub', 'oci:./retag:v1-copy'], { cwd: dir });
    assert.equal(verified.status, 0, verified.stderr);
  });

  it('diff against the same image in a layout without attachments: they differ (exit 1), and the manifest is named once', async () => {
    const clean = await LayoutStore.open(join(dir, 'clean'), { create: true });
    await makeImage(clean, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await clean.close();
    const r = await provenant(['diff', ref, `oci:${join(dir, 'clean')}:v1`], { cwd: dir });
    assert.equal(r.status, 1, r.stderr);
    // The same image: what differs is what the first layout has attached to it.
    assert.match(r.stdout, /^--- a: .*layout:v1 /);
    assert.match(r.stdout, /^index attachments:\n {2}- attestation referrers https:\/\/example\.org\/predicate\/v1 by key /m);
    assert.match(r.stdout, /^linux\/amd64: identical /m);
    assertWarnedOnce(r.stderr);
  });
});
