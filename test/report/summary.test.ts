/**
 * The report's summary figures, on data made here: signatures counted as `provenant verify`
 * counts them (an attestation's signature is not one of the image), and the stored size with
 * each blob once, however many platforms share it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReportAttachment, ReportData, ReportLayer, ReportPlatform, ReportSigner } from '../../src/report/data.ts';
import { bytes, renderReport } from '../../src/report/html.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}` as ReportPlatform['digest'];

function signer(kind: ReportSigner['kind'], signed = true): ReportSigner {
  return { storage: 'referrers', kind, source: 'referrer x', signed, keyId: 'k' };
}

function attachment(kind: ReportAttachment['kind'], signers: ReportSigner[]): ReportAttachment {
  return {
    storage: 'referrers',
    kind,
    subject: digest('0'),
    digest: digest('9'),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 500,
    artifactType: undefined,
    predicateTypes: [],
    tag: undefined,
    signers,
  };
}

function layer(c: string, size: number): ReportLayer {
  return { digest: digest(c), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size, diffId: undefined, annotations: {} };
}

function platform(
  name: string,
  d: string,
  size: number,
  config: [string, number],
  layers: ReportLayer[],
  attachments: ReportAttachment[] = [],
): ReportPlatform {
  return {
    platform: name,
    digest: digest(d),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size,
    annotations: {},
    config: {
      digest: digest(config[0]),
      mediaType: 'application/vnd.oci.image.config.v1+json',
      size: config[1],
      os: undefined,
      architecture: undefined,
      variant: undefined,
      created: undefined,
      author: undefined,
      user: undefined,
      entrypoint: undefined,
      cmd: undefined,
      workingDir: undefined,
      env: [],
      exposedPorts: [],
      volumes: [],
      labels: {},
      stopSignal: undefined,
      history: [],
      error: undefined,
    },
    layers,
    totalSize: size + config[1] + layers.reduce((n, l) => n + l.size, 0),
    attachments,
    sbom: { source: 'missing', format: undefined, attachment: undefined, packages: [], system: undefined, note: 'none' },
    provenance: undefined,
    otherProvenances: [],
  };
}

function report(platforms: ReportPlatform[], attachments: ReportAttachment[] = []): ReportData {
  return {
    reference: 'registry.invalid/app:1',
    location: 'registry.invalid/app',
    digest: digest('0'),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    size: 1000,
    kind: 'index',
    annotations: {},
    index: [],
    platforms,
    attachments,
    compat: undefined,
    toolVersion: '',
    notes: [],
  };
}

/** The value of the summary card `label`, as text. */
function cardValue(page: string, label: string): string | undefined {
  const escaped = label.replace(/[()]/g, '\\$&');
  return new RegExp(`<span class="label">${escaped}</span><span class="value">([^<]*)</span>`).exec(page)?.[1];
}

describe('the report summary', () => {
  it('counts the signatures verify counts, and the signed attestations apart', () => {
    // An unsigned image with a signed custom attestation on each platform: no signature.
    const attested = [attachment('attestation', [signer('attestation')])];
    let page = renderReport(
      report([
        platform('linux/amd64', '1', 400, ['2', 300], [layer('3', 1000)], attested),
        platform('linux/arm64', '4', 400, ['5', 300], [layer('6', 1000)], attested),
      ]),
    );
    assert.equal(cardValue(page, 'Signatures'), '0');
    assert.equal(cardValue(page, 'Signed attestations'), '2');
    // Signed index and images (one unsigned signature manifest too), with signed attestations.
    const both = [
      attachment('signature', [signer('signature'), signer('signature', false)]),
      attachment('attestation', [signer('attestation')]),
      attachment('attestation', []),
    ];
    page = renderReport(
      report([platform('linux/amd64', '1', 400, ['2', 300], [layer('3', 1000)], both)], [attachment('signature', [signer('signature')])]),
    );
    assert.equal(cardValue(page, 'Signatures'), '2');
    assert.equal(cardValue(page, 'Signed attestations'), '1');
  });

  it('gives the stored size with each blob once: layers two platforms share, and a single manifest that is its own platform', () => {
    const shared = layer('a', 3 * 1024 * 1024);
    const data = report([
      platform('linux/amd64', '1', 400, ['2', 300], [shared, layer('3', 1024)]),
      platform('linux/arm64', '4', 410, ['5', 310], [shared, layer('6', 2048)]),
    ]);
    const page = renderReport(data);
    assert.equal(cardValue(page, 'Size (stored)'), bytes(1000 + 400 + 300 + 410 + 310 + 3 * 1024 * 1024 + 1024 + 2048));
    assert.match(page, /<span class="note">manifests, configs and layers, compressed; a blob shared by platforms once<\/span>/);
    // A single manifest is the report's digest and its one platform's.
    const single = platform('linux/amd64', '1', 400, ['2', 300], [layer('3', 5000)]);
    const one = { ...report([single]), digest: single.digest, size: single.size, kind: 'manifest' as const, index: undefined };
    assert.equal(cardValue(renderReport(one), 'Size (stored)'), bytes(400 + 300 + 5000));
  });
});
