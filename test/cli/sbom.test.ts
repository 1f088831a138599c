// `provenant sbom` of images a build wrote, as a user runs both: the package checksum each SBOM
// gives, the name and date of an SBOM made from an image, and what `--compat apko` leaves out.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, makeApkProject } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('sbom-cli');

interface Spdx {
  name: string;
  creationInfo: { created: string };
  packages: {
    name: string;
    primaryPackagePurpose?: string;
    checksums?: { algorithm: string; checksumValue: string }[];
    externalRefs?: { referenceLocator: string }[];
  }[];
}
interface Bom {
  metadata: { timestamp: string; component: { name: string; purl: string } };
  components: { name: string; hashes?: { alg: string; content: string }[] }[];
}

describe('provenant sbom', () => {
  let dir: string;
  let apkSha256: string;
  const run = (args: string[], env: Record<string, string> = {}) => cliOk(args, { cwd: dir, env });
  const build = (out: string, ...args: string[]) =>
    run(['build', 'image.yaml', '--quiet', '--cache-dir', 'cache', '-o', `oci:${join(dir, out)}:latest`, ...args], {
      SOURCE_DATE_EPOCH: '1700000000',
    });
  before(async () => {
    dir = await tempDir();
    await makeApkProject(dir);
    apkSha256 = createHash('sha256')
      .update(await readFile(join(dir, 'repo', 'x86_64', 'hello-1.0-r0.apk')))
      .digest('hex');
  });

  it("gives the build's SBOMs the .apk file's SHA-256, as the provenance records it", async () => {
    await build('built');
    const spdx = JSON.parse((await run(['sbom', `oci:${join(dir, 'built')}:latest`])).stdout) as Spdx;
    assert.deepEqual(spdx.packages.find((p) => p.name === 'hello')?.checksums, [{ algorithm: 'SHA256', checksumValue: apkSha256 }]);
    const bom = JSON.parse((await run(['sbom', `oci:${join(dir, 'built')}:latest`, '--type', 'cyclonedx'])).stdout) as Bom;
    assert.deepEqual(bom.components.find((c) => c.name === 'hello')?.hashes, [{ alg: 'SHA-256', content: apkSha256 }]);
    const inspected = JSON.parse((await run(['inspect', `oci:${join(dir, 'built')}:latest`, '--format', 'json'])).stdout) as {
      Provenance: { SLSA: { buildDefinition: { resolvedDependencies: { uri?: string; digest: { sha256?: string } }[] } } };
    };
    const recorded = inspected.Provenance.SLSA.buildDefinition.resolvedDependencies.find((d) => d.uri?.endsWith('hello-1.0-r0.apk'));
    assert.equal(recorded?.digest.sha256, apkSha256);
  });

  it('makes one without a package checksum, named by no path and dated by the image, when none is attached', async () => {
    await build('plain', '--sbom', 'false', '--provenance', 'false');
    const made = await run(['sbom', `oci:${join(dir, 'plain')}:latest`]);
    assert.match(made.stderr, /made one from the image's package database/);
    const spdx = JSON.parse(made.stdout) as Spdx;
    // apk's database gives only the package's C: (a hash of its control section): no checksum.
    assert.equal(spdx.packages.find((p) => p.name === 'hello')?.checksums, undefined);
    assert.match(spdx.name, /^image@sha256:[0-9a-f]{64}$/);
    assert.doesNotMatch(made.stdout, new RegExp(`${dir}|repository_url`));
    // The image config's created (SOURCE_DATE_EPOCH of the build), unless SOURCE_DATE_EPOCH says otherwise.
    assert.equal(spdx.creationInfo.created, '2023-11-14T22:13:20Z');
    const dated = JSON.parse((await run(['sbom', `oci:${join(dir, 'plain')}:latest`], { SOURCE_DATE_EPOCH: '0' })).stdout) as Spdx;
    assert.equal(dated.creationInfo.created, '1970-01-01T00:00:00Z');
    const bom = JSON.parse((await run(['sbom', `oci:${join(dir, 'plain')}:latest`, '--type', 'cyclonedx'])).stdout) as Bom;
    assert.equal(bom.components.find((c) => c.name === 'hello')?.hashes, undefined);
    assert.equal(bom.metadata.timestamp, '2023-11-14T22:13:20Z');
    assert.match(bom.metadata.component.purl, /^pkg:oci\/image@sha256:[0-9a-f]{64}\?arch=amd64&os=linux$/);
  });

  it('--compat apko says which packages the SBOM leaves out, as the build does', async () => {
    const built = await build('apko', '--compat', 'apko', '--provenance', 'false');
    assert.match(built.stderr, /lists none of 1 package \(hello-1\.0-r0\)/);
    const r = await run(['sbom', `oci:${join(dir, 'apko')}:latest`, '--compat', 'apko']);
    assert.ok(!(JSON.parse(r.stdout) as Spdx).packages.some((p) => p.name === 'hello'));
    assert.match(
      r.stderr,
      /^warning: the SPDX SBOM lists none of 1 package \(hello-1\.0-r0\): with --compat apko .*without --compat apko makes an SPDX SBOM of every package\n$/,
    );
  });
});
