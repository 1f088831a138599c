// A build loads the code of what it does: the package source its repositories name, the SBOM and
// provenance writers when it makes statements, apko's steps under --compat apko. Each module a
// plain build loads costs start-up time (issue 16, the warm build's fixed cost).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cliLoading, makeApkProject, RESOLVED_MODULES } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

/** The src/ modules (and the xz decoder) a build of `config` loads, with `flags`. */
async function buildLoads(dir: string, config: string, flags: string[]): Promise<string[]> {
  const { loaded: urls } = await cliLoading(
    ['build', config, '-o', `oci:${dir}/out-${flags.join('')}:latest`, '--cache-dir', `${dir}/cache`, ...flags],
    RESOLVED_MODULES,
    { cwd: dir, env: { SOURCE_DATE_EPOCH: '1700000000' } },
  );
  const src = new URL('../../src/', import.meta.url).href;
  return urls.flatMap((u) => (u.startsWith(src) ? [u.slice(src.length)] : u.includes('/xz-decompress/') ? ['xz-decompress'] : []));
}

describe('the modules a build loads', () => {
  const tempDir = useTempDir('build-modules');

  it('an apk build without statements loads neither the Debian source, the xz decoder, the SBOM writers nor apko', async () => {
    const dir = await tempDir();
    const config = await makeApkProject(dir);
    const lean = await buildLoads(dir, config, ['--sbom', 'false', '--provenance', 'false']);
    assert.ok(lean.includes('pkg/apk/source.ts'), lean.join(', '));
    assert.deepEqual(
      lean.filter((m) => /^(pkg\/deb\/|sbom\/|builder\/describe\.ts|builder\/apko|attest\/provenance\.ts)|^xz-decompress$/.test(m)),
      [],
    );
    // With SBOMs and provenance (the default), their writers load.
    const described = await buildLoads(dir, config, []);
    for (const m of ['builder/describe.ts', 'sbom/spdx.ts', 'sbom/cyclonedx.ts', 'attest/provenance.ts'])
      assert.ok(described.includes(m), `${m} not in ${described.join(', ')}`);
    assert.ok(!described.includes('pkg/deb/source.ts'), described.join(', '));
  });

  it('an apko-compatible build loads apko steps', async () => {
    const dir = await tempDir();
    const config = await makeApkProject(dir);
    const loaded = await buildLoads(dir, config, ['--compat', 'apko', '--sbom', 'false', '--provenance', 'false']);
    for (const m of ['builder/apko.ts', 'builder/apko-config.ts', 'builder/apko-image.ts']) assert.ok(loaded.includes(m), m);
  });
});
