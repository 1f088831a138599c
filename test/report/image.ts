/**
 * A real image to report on: built from apko's signed test repository (both arches) into an OCI
 * layout, with SPDX, CycloneDX and SLSA provenance attached as referrers, the index and every
 * image signed with a key in both cosign storages, the amd64 provenance also attested in cosign
 * 2's `.att` storage and the arm64 SPDX document in cosign 3's bundle storage. One annotation
 * holds markup, to show that the report prints it as text.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild, describeIndex, SPDX_PREDICATE } from '../../src/builder/describe.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { copyApkoRepository } from '../helpers/apk.ts';

/** The markup in the image's description annotation. */
export const HOSTILE_DESCRIPTION = '<script>document.title="pwned"</script><img src="https://example.invalid/x.png"> & </style>';

export interface ReportImage {
  dir: string;
  store: LayoutStore;
  tag: string;
  /** The signing key's id, as signatures name it. */
  keyId: string;
  /** The platform images' digests, by apk arch. */
  images: Map<string, Digest>;
  /** The index's digest. */
  index: Digest;
  remove(): Promise<void>;
}

/**
 * Builds, attaches and signs the image in a new temporary folder; with `bare`, writes the same
 * image with nothing attached and unsigned.
 */
export async function makeReportImage(options: { bare?: boolean } = {}): Promise<ReportImage> {
  const dir = await mkdtemp(join(tmpdir(), 'provenant-report-'));
  await copyApkoRepository(dir);
  const configPath = join(dir, 'apko.yaml');
  await writeFile(
    configPath,
    [
      'contents:',
      '  keyring: [./testdata/melange.rsa.pub]',
      '  repositories: [./testdata/packages]',
      '  packages: [replayout, custom-ca-certs-1]',
      'entrypoint:',
      '  command: /bin/sh -l',
      'environment:',
      '  PATH: /usr/sbin:/sbin:/usr/bin:/bin',
      'archs: [x86_64, aarch64]',
      'annotations:',
      '  org.opencontainers.image.title: Report demo',
      `  org.opencontainers.image.description: ${JSON.stringify(HOSTILE_DESCRIPTION)}`,
      '',
    ].join('\n'),
  );
  const sourceDateEpoch = 1700000000;
  const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
  const result = await buildImage({ config: loaded, configPath, sourceDateEpoch });
  const describeOptions = {
    imageName: 'registry.example/demo/app:1.0',
    configPath,
    toolVersion: '0.1.0',
    sourceDateEpoch,
    builderId: 'https://ci.example/builders/provenant',
    fromLock: false,
  };
  const attested = describeBuild(result, describeOptions);
  const indexSbom = describeIndex(result, describeOptions);
  if (indexSbom !== undefined) attested.push(indexSbom);
  const store = await LayoutStore.open(join(dir, 'layout'), { create: true });
  const tag = 'latest';
  const images = new Map(result.images.map((i) => [i.arch, i.manifest.digest]));
  const remove = async (): Promise<void> => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  };
  if (options.bare === true) {
    const written = await writeBuild(result, store, [tag]);
    return { dir, store, tag, keyId: '', images, index: written.digest, remove };
  }
  const written = await writeBuild(result, store, [tag], { attestations: { attested, mode: 'referrers' } });

  const key = generateSigningKeyPair();
  const signer = new KeySigner(key.privateKey);
  const created = new Date(sourceDateEpoch * 1000);
  await signImage(store, tag, { signer, dockerReference: 'registry.example/demo/app', recursive: true, created });
  const amd = attested.find((a) => a.manifest.digest === images.get('x86_64'));
  const arm = attested.find((a) => a.manifest.digest === images.get('aarch64'));
  const provenance = amd?.statements.find((s) => s.predicateType === SLSA_V1);
  const spdx = arm?.statements.find((s) => s.predicateType === SPDX_PREDICATE);
  if (amd === undefined || arm === undefined || provenance === undefined || spdx === undefined)
    throw new Error('the build made no statements');
  await attestImage(store, amd.manifest.digest, [provenance], { signer, storage: 'cosign', created });
  await attestImage(store, arm.manifest.digest, [spdx], { signer, storage: 'referrers', created });
  return {
    dir,
    store,
    tag,
    keyId: keyId(key.publicKey),
    images,
    index: written.digest,
    remove,
  };
}
