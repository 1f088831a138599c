// Every verdict ../shared/fixtures/sig/SOURCES.md gives that the CLI can check, run as a user would
// (an OCI layout built at test time from the fixture's bytes), and one-byte tampering of the real
// artifacts: each tamper is refused with exit 5 and a typed reason.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parseStored } from '../../src/oci/content.ts';
import type { CosignLayer } from '../../src/sign/storage.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import { cimageLayer, ociFixture, putBundleReferrer, putCosignLayer, putManifestBytes, sigFixture } from '../sign/helpers.ts';
import { provenant } from './provenant.ts';

const tempDir = useTempDir('cli-fixtures-verdicts');

const sig = (name: string): string => fixture('sig', name);
const ROOTS = {
  sjs: 'sjs-tuf-seeds-trusted_root-public-good.json',
  sgo: 'sgo-trusted_root-public-good.json',
  pgi: 'cosign-trusted_root_pgi.json',
} as const;
const SIGNATURE = 'dev.cosignproject.cosign/signature';
const CERTIFICATE = 'dev.sigstore.cosign/certificate';
const BUNDLE = 'dev.sigstore.cosign/bundle';
const MITR = ['--certificate-identity', 'mitr@redhat.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth'];
const ANYONE = ['--certificate-identity-regexp', '.*', '--certificate-oidc-issuer-regexp', '.*'];

/** base64 text with one bit of byte `at` flipped. */
function flipB64(text: string, at: number): string {
  const bytes = Buffer.from(text, 'base64');
  bytes[at]! ^= 1;
  return bytes.toString('base64');
}

/** A layout with `manifest` tagged `img` and, if given, a containers/image `.sig` file as its cosign layer (changed by `tamper`). */
async function cosignLayout(manifest: string, signature?: string, tamper?: (layer: CosignLayer) => void): Promise<string> {
  const dir = join(await tempDir(), 'l');
  const store = await LayoutStore.open(dir, { create: true });
  const digest = await putManifestBytes(store, await sigFixture(manifest), 'img');
  if (signature !== undefined) {
    const layer = await cimageLayer(signature);
    tamper?.(layer);
    await putCosignLayer(store, digest, layer);
  }
  await store.close();
  return dir;
}

/** The parts of a Sigstore bundle's JSON the tampering changes. */
interface BundleJson {
  dsseEnvelope: { payload: string; signatures: { sig: string }[] };
  verificationMaterial: {
    certificate: { rawBytes: string };
    tlogEntries: { integratedTime: string }[];
    timestampVerificationData: { rfc3161Timestamps: { signedTimestamp: string }[] };
  };
}

/**
 * A layout with the BuildKit attestation manifest cosign 3 signed (oci fixtures), or `subjectFile`'s
 * manifest, tagged `img`, and cosign 3's bundle (changed by `tamper`) attached as its referrer.
 */
async function bundleLayout(tamper?: (bundle: BundleJson) => void, subject?: Buffer): Promise<string> {
  const dir = join(await tempDir(), 'l');
  const store = await LayoutStore.open(dir, { create: true });
  const subjectBytes = subject ?? (await ociFixture('buildkit-oci-artifact-attestation-manifest_spdx2-slsa1_ecr-public.json'));
  const stored = parseStored(subjectBytes);
  await putManifestBytes(store, subjectBytes, 'img');
  let bundle: Uint8Array = await ociFixture('cosign-v3-sigstore-bundle-v0.3_dsse-cosign-sign-v1.json');
  if (tamper !== undefined) {
    const doc: BundleJson = JSON.parse(Buffer.from(bundle).toString('utf8'));
    tamper(doc);
    bundle = Buffer.from(JSON.stringify(doc));
  }
  await putBundleReferrer(store, { digest: stored.digest, mediaType: stored.mediaType, size: subjectBytes.length }, bundle, undefined);
  await store.close();
  return dir;
}

/** A layout with cosign-valid's manifest and the cosign-policy DSSE envelopes (or `envelopes`) as its `.att` layers, in order. */
async function attestationLayout(envelopes: [file: string, predicateType: string][]): Promise<string> {
  const dir = join(await tempDir(), 'l');
  const store = await LayoutStore.open(dir, { create: true });
  const digest = await putManifestBytes(store, await sigFixture('cimage-dir-img-cosign-valid.manifest.json'), 'img');
  for (const [file, predicateType] of envelopes) {
    const payload = new Uint8Array(await sigFixture(file));
    await putCosignLayer(
      store,
      digest,
      { mediaType: 'application/vnd.dsse.envelope.v1+json', payload, annotations: { [SIGNATURE]: '', predicateType } },
      'att',
    );
  }
  await store.close();
  return dir;
}

interface Case {
  /** What is checked, as SOURCES.md says it. */
  name: string;
  /** The layout's name in `layouts`. */
  layout: string;
  args: string[];
  status: 0 | 5;
  /** For a refusal: the typed reason and a part of its message. */
  reason?: string;
  message?: RegExp;
  command?: 'verify' | 'verify-attestation';
  /** For a verified one: what it carries that was not checked (a key and no trusted root); none when absent. */
  notChecked?: string[];
}

/** Runs a case with --format json and checks the exit code, the verdict and (refused) the typed reason. */
async function check(dir: string, c: Case): Promise<void> {
  const r = await provenant([c.command ?? 'verify', ...c.args, '--format', 'json', `oci:${dir}:img`]);
  assert.equal(r.status, c.status, `${c.name}: ${r.stderr}`);
  const report = JSON.parse(r.stdout);
  assert.equal(report.verified, c.status === 0, c.name);
  assert.equal(report.checked.length, 1, c.name);
  const [entry] = report.checked;
  if (c.status === 0) {
    assert.equal(entry.verified, true, c.name);
    assert.deepEqual(entry.notChecked, c.notChecked, c.name);
    return;
  }
  assert.equal(entry.verified, false, c.name);
  assert.equal(entry.reason, c.reason, `${c.name}: ${entry.message}`);
  if (c.message !== undefined) assert.match(entry.message, c.message, c.name);
}

describe('SOURCES.md verdicts of the real cosign signatures, through the CLI', { skip: fixturesMissing }, () => {
  const layouts: Record<string, string> = {};
  before(async () => {
    if (fixturesMissing) return;
    layouts.valid = await cosignLayout('cimage-dir-img-cosign-valid.manifest.json', 'cimage-dir-img-cosign-valid.signature-1');
    layouts.withTag = await cosignLayout(
      'cimage-dir-img-cosign-valid-with-tag.manifest.json',
      'cimage-dir-img-cosign-valid-with-tag.signature-1',
    );
    layouts.unknown = await cosignLayout('cimage-dir-img-cosign-valid.manifest.json', 'cimage-unknown-cosign-key.signature');
    layouts.modified = await cosignLayout(
      'cimage-dir-img-cosign-modified-manifest.manifest.json',
      'cimage-dir-img-cosign-valid.signature-1',
    );
    layouts.keyRekor = await cosignLayout(
      'cimage-dir-img-cosign-key-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-key-rekor-valid.signature-1',
    );
    layouts.fulcio = await cosignLayout(
      'cimage-dir-img-cosign-fulcio-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1',
    );
    layouts.v3 = await bundleLayout();
    // key-rekor-valid's signature carrying the Rekor entry of fulcio-rekor-valid's (another signature).
    const theirs = (await cimageLayer('cimage-dir-img-cosign-fulcio-rekor-valid.signature-1')).annotations[BUNDLE]!;
    layouts.keyRekorSwapped = await cosignLayout(
      'cimage-dir-img-cosign-key-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-key-rekor-valid.signature-1',
      (l) => {
        l.annotations[BUNDLE] = theirs;
      },
    );
  });

  const key = (name: string) => ['--key', sig(name)];
  const root = (name: string) => ['--trusted-root', sig(name)];
  const cases: Case[] = [
    { name: 'cosign-valid with cosign.pub: OK', layout: 'valid', args: key('cimage-cosign.pub'), status: 0 },
    {
      name: 'cosign-valid-with-tag (made by containers/image) with cosign.pub: OK',
      layout: 'withTag',
      args: key('cimage-cosign.pub'),
      status: 0,
    },
    {
      name: 'cosign-valid with cosign2.pub: FAIL',
      layout: 'valid',
      args: key('cimage-cosign2.pub'),
      status: 5,
      reason: 'signature',
      message: /does not verify with the given key/,
    },
    {
      name: 'unknown-cosign-key with cosign.pub: FAIL',
      layout: 'unknown',
      args: key('cimage-cosign.pub'),
      status: 5,
      reason: 'signature',
    },
    {
      name: 'unknown-cosign-key with cosign2.pub: FAIL',
      layout: 'unknown',
      args: key('cimage-cosign2.pub'),
      status: 5,
      reason: 'signature',
    },
    {
      name: 'modified manifest with the valid signature: the claim check fails',
      layout: 'modified',
      args: key('cimage-cosign.pub'),
      status: 5,
      reason: 'wrong-subject',
      message: /the signature is for sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00, not for this image/,
    },
    // Its Rekor entry is not read without a trusted root: said, as cosign 2 would check it (a review found a damaged one passing unsaid).
    {
      name: 'key-rekor-valid with cosign2.pub alone: OK, its Rekor entry not checked',
      layout: 'keyRekor',
      args: key('cimage-cosign2.pub'),
      status: 0,
      notChecked: ['its Rekor entry'],
    },
    ...Object.entries(ROOTS).map(
      ([short, file]): Case => ({
        name: `key-rekor-valid with cosign2.pub and the ${short} root (SET checked): OK`,
        layout: 'keyRekor',
        args: [...key('cimage-cosign2.pub'), ...root(file)],
        status: 0,
      }),
    ),
    // Without a root the SET is not checked, but the entry must still record this signature.
    {
      name: 'key-rekor-valid with another signature’s Rekor entry, cosign2.pub alone: FAIL, the entry is not this one’s',
      layout: 'keyRekorSwapped',
      args: key('cimage-cosign2.pub'),
      status: 5,
      reason: 'transparency-log',
      message: /the transparency log entry records sha256:[0-9a-f]{64}, not this layer's/,
    },
    {
      name: 'key-rekor-valid with cosign.pub: FAIL',
      layout: 'keyRekor',
      args: key('cimage-cosign.pub'),
      status: 5,
      reason: 'signature',
    },
    {
      name: 'key-rekor-valid with the Rekor key (cimage-rekor.pub) as the signing key: FAIL',
      layout: 'keyRekor',
      args: key('cimage-rekor.pub'),
      status: 5,
      reason: 'signature',
    },
    { name: 'fulcio-rekor-valid keyless with the embedded root: OK', layout: 'fulcio', args: MITR, status: 0 },
    ...Object.entries(ROOTS).map(
      ([short, file]): Case => ({
        name: `fulcio-rekor-valid keyless with the ${short} root: OK`,
        layout: 'fulcio',
        args: [...MITR, ...root(file)],
        status: 0,
      }),
    ),
    {
      name: 'cosign 3 bundle (cert, Rekor, RFC 3161) with the sjs root: OK',
      layout: 'v3',
      args: [...ANYONE, ...root(ROOTS.sjs)],
      status: 0,
    },
    // A timestamp from an authority the root does not list counts for nothing, as in sigstore-go
    // (pkg/verify/tsa.go) and cosign, which reads signed timestamps only when asked: the log
    // entry's verified time is the signature's.
    {
      name: 'cosign 3 bundle with the sgo root (older, without the TSA of 2025): OK on its log entry’s time',
      layout: 'v3',
      args: [...ANYONE, ...root(ROOTS.sgo)],
      status: 0,
    },
  ];
  for (const c of cases) it(c.name, () => check(layouts[c.layout]!, c));

  it('the Fulcio root certificate (cimage-fulcio_v1.crt.pem) is no --key: a usage error naming keyless', async () => {
    const r = await provenant(['verify', '--key', sig('cimage-fulcio_v1.crt.pem'), `oci:${layouts.fulcio}:img`]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /a CERTIFICATE PEM block, not a public key/);
    assert.match(r.stderr, /--certificate-identity/);
  });
});

describe('cosign-policy DSSE envelopes and --type, through the CLI', { skip: fixturesMissing }, () => {
  let dir = '';
  before(async () => {
    if (fixturesMissing) return;
    dir = await attestationLayout([
      ['cosign-policy-valid-custom.dsse.json', 'https://cosign.sigstore.dev/attestation/v1'],
      ['cosign-policy-malformed-custom.dsse.json', 'cosign.sigstore.dev/attestation/v1'],
      ['cosign-policy-valid-vuln.dsse.json', 'https://cosign.sigstore.dev/attestation/vuln/v1'],
      ['cosign-policy-malformed-vuln.dsse.json', 'cosign.sigstore.dev/attestation/vuln/v1'],
    ]);
  });

  // The signing key of these envelopes is not published: each matched one is refused on its
  // signature, and the malformed ones (no "https://") are not matched at all.
  for (const [type, layer] of [
    ['custom', 0],
    ['vuln', 2],
  ] as const) {
    it(`--type ${type} matches only the valid-${type} envelope (layer ${layer}); the malformed one is skipped`, async () => {
      const r = await provenant([
        'verify-attestation',
        '--type',
        type,
        '--key',
        sig('cimage-cosign.pub'),
        '--format',
        'json',
        `oci:${dir}:img`,
      ]);
      assert.equal(r.status, 5, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.checked.length, 1, r.stdout);
      assert.match(report.checked[0].source, new RegExp(`\\.att layer ${layer}$`));
      assert.equal(report.checked[0].reason, 'signature');
    });
  }
});

describe('the derived DSSE envelope as a cosign .att layer, through the CLI', { skip: fixturesMissing }, () => {
  let dir = '';
  before(async () => {
    if (fixturesMissing) return;
    dir = await attestationLayout([
      ['derived-sgo-example-bundle-publish.dsse-envelope.json', 'https://github.com/npm/attestation/tree/main/specs/publish/v0.1'],
    ]);
  });

  it('its signature verifies with its key, and it is refused only because it is about another subject', async () => {
    const r = await provenant(['verify-attestation', '--key', sig('sgo-example-publish_key.pub'), '--format', 'json', `oci:${dir}:img`]);
    assert.equal(r.status, 5, r.stderr);
    const [entry] = JSON.parse(r.stdout).checked;
    assert.equal(entry.reason, 'wrong-subject', entry.message);
  });

  it('with another key it is refused as signed by the key its keyid names', async () => {
    const r = await provenant(['verify-attestation', '--key', sig('cimage-cosign.pub'), '--format', 'json', `oci:${dir}:img`]);
    assert.equal(r.status, 5, r.stderr);
    const [entry] = JSON.parse(r.stdout).checked;
    assert.equal(entry.reason, 'wrong-key', entry.message);
    assert.match(entry.message, /signed by key SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA, not by the given key/);
  });
});

describe('cosign’s OCI attestation bundle attached to an image it is not about, through the CLI', { skip: fixturesMissing }, () => {
  it('is refused as about sha256:7321…, after its certificate and log entry verified with the pgi root', async () => {
    const dir = join(await tempDir(), 'l');
    const store = await LayoutStore.open(dir, { create: true });
    const bytes = await sigFixture('cimage-dir-img-cosign-valid.manifest.json');
    const digest = await putManifestBytes(store, bytes, 'img');
    const bundle = await sigFixture('cosign-oci-attestation.sigstore.json');
    await putBundleReferrer(store, { digest, size: bytes.length }, bundle, 'https://cosign.sigstore.dev/attestation/v1');
    await store.close();
    const identity = ['--certificate-identity', 'cody@soyland.com', '--certificate-oidc-issuer', 'https://github.com/login/oauth'];
    const r = await provenant([
      'verify-attestation',
      '--type',
      'custom',
      ...identity,
      '--trusted-root',
      sig(ROOTS.pgi),
      '--format',
      'json',
      `oci:${dir}:img`,
    ]);
    assert.equal(r.status, 5, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.checked.length, 1, r.stdout);
    const [entry] = report.checked;
    assert.equal(entry.reason, 'wrong-subject', entry.message);
    assert.match(entry.message, /about sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4, not this image/);
    assert.equal(entry.transparencyLog, true);
  });
});

describe('one-byte tampering of the real signatures is refused with exit 5 and a typed reason', { skip: fixturesMissing }, () => {
  const layouts: Record<string, string> = {};
  before(async () => {
    if (fixturesMissing) return;
    const valid = ['cimage-dir-img-cosign-valid.manifest.json', 'cimage-dir-img-cosign-valid.signature-1'] as const;
    const keyRekor = ['cimage-dir-img-cosign-key-rekor-valid.manifest.json', 'cimage-dir-img-cosign-key-rekor-valid.signature-1'] as const;
    const fulcio = [
      'cimage-dir-img-cosign-fulcio-rekor-valid.manifest.json',
      'cimage-dir-img-cosign-fulcio-rekor-valid.signature-1',
    ] as const;
    const laterBy1 = (layer: CosignLayer) => {
      const bundle = JSON.parse(layer.annotations![BUNDLE]!);
      bundle.Payload.integratedTime += 1;
      layer.annotations![BUNDLE] = JSON.stringify(bundle);
    };
    layouts.sig = await cosignLayout(...valid, (l) => {
      l.annotations![SIGNATURE] = flipB64(l.annotations![SIGNATURE]!, 10);
    });
    layouts.payload = await cosignLayout(...valid, (l) => {
      const payload = new Uint8Array(l.payload);
      payload[payload.length - 3]! ^= 1;
      l.payload = payload;
    });
    layouts.cert = await cosignLayout(...fulcio, (l) => {
      const pem = l.annotations![CERTIFICATE]!;
      const at = pem.indexOf('\n', 200) + 20;
      l.annotations![CERTIFICATE] = pem.slice(0, at) + (pem[at] === 'A' ? 'B' : 'A') + pem.slice(at + 1);
    });
    layouts.keyTime = await cosignLayout(...keyRekor, laterBy1);
    layouts.keylessTime = await cosignLayout(...fulcio, laterBy1);
    layouts.swap = await cosignLayout('cimage-dir-img-cosign-key-rekor-valid.manifest.json', 'cimage-dir-img-cosign-valid.signature-1');
    layouts.v3Sig = await bundleLayout((b) => {
      const [signature] = b.dsseEnvelope.signatures;
      signature!.sig = flipB64(signature!.sig, 20);
    });
    layouts.v3Payload = await bundleLayout((b) => {
      b.dsseEnvelope.payload = flipB64(b.dsseEnvelope.payload, 40);
    });
    layouts.v3Cert = await bundleLayout((b) => {
      b.verificationMaterial.certificate.rawBytes = flipB64(b.verificationMaterial.certificate.rawBytes, 300);
    });
    layouts.v3Tsa = await bundleLayout((b) => {
      const t = b.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0]!;
      t.signedTimestamp = flipB64(t.signedTimestamp, 80);
    });
    layouts.v3Time = await bundleLayout((b) => {
      const entry = b.verificationMaterial.tlogEntries[0]!;
      entry.integratedTime = String(Number(entry.integratedTime) + 1);
    });
    layouts.v3Swap = await bundleLayout(undefined, await sigFixture('cimage-dir-img-cosign-valid.manifest.json'));
  });

  const cosign = ['--key', sig('cimage-cosign.pub')];
  const cosign2Logged = ['--key', sig('cimage-cosign2.pub'), '--trusted-root', sig(ROOTS.sjs)];
  const v3 = [...ANYONE, '--trusted-root', sig(ROOTS.sjs)];
  const cases: Case[] = [
    { name: 'cosign 2 key signature: a byte of the signature', layout: 'sig', args: cosign, status: 5, reason: 'signature' },
    { name: 'cosign 2 key signature: a byte of the payload', layout: 'payload', args: cosign, status: 5, reason: 'signature' },
    {
      name: 'cosign 2 keyless: a byte of the Fulcio certificate',
      layout: 'cert',
      args: MITR,
      status: 5,
      reason: 'untrusted-certificate',
      message: /does not chain to a trusted Fulcio CA/,
    },
    {
      name: 'cosign 2 key signature: the Rekor integrated time, with a trusted root',
      layout: 'keyTime',
      args: cosign2Logged,
      status: 5,
      reason: 'transparency-log',
      message: /signed entry timestamp does not verify/,
    },
    {
      name: 'cosign 2 keyless: the Rekor integrated time',
      layout: 'keylessTime',
      args: MITR,
      status: 5,
      reason: 'transparency-log',
      message: /signed entry timestamp does not verify/,
    },
    {
      name: 'cosign 2: cosign-valid’s signature on the key-rekor image',
      layout: 'swap',
      args: cosign,
      status: 5,
      reason: 'wrong-subject',
      message: /the signature is for sha256:634a8f35/,
    },
    // The timestamp and the log entry are over the signature too, and fail with it: the reason is the signature's.
    {
      name: 'cosign 3 bundle: a byte of the DSSE signature',
      layout: 'v3Sig',
      args: v3,
      status: 5,
      reason: 'signature',
      message: /the signature does not match/,
    },
    {
      name: 'cosign 3 bundle: a byte of the DSSE payload',
      layout: 'v3Payload',
      args: v3,
      status: 5,
      reason: 'signature',
      message: /the signature does not match.*DSSE payload hash mismatch/,
    },
    { name: 'cosign 3 bundle: a byte of the certificate', layout: 'v3Cert', args: v3, status: 5, reason: 'untrusted-certificate' },
    {
      name: 'cosign 3 bundle: the Rekor integrated time',
      layout: 'v3Time',
      args: v3,
      status: 5,
      reason: 'transparency-log',
      message: /signed entry timestamp does not verify/,
    },
    {
      name: 'cosign 3 bundle: attached to another image',
      layout: 'v3Swap',
      args: v3,
      status: 5,
      reason: 'wrong-subject',
      message: /it was copied from another image/,
    },
  ];
  for (const c of cases) it(c.name, () => check(layouts[c.layout]!, c));
  // cosign reads signed timestamps only when asked, and sigstore-go counts one that does not verify
  // for nothing: a changed timestamp leaves the signature verified on its log entry's time.
  it('cosign 3 bundle: a byte of the RFC 3161 timestamp leaves it verified on its log entry’s time', () =>
    check(layouts.v3Tsa!, { name: 'a byte of the RFC 3161 timestamp', layout: 'v3Tsa', args: v3, status: 0 }));
});
