// archs: [armhf] in a Debian configuration is apk's armhf (ARMv6), built as Debian's armel: the
// build says so, since someone who wrote Debian's name most likely meant Debian's armhf (armv7).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renamedArchWarnings } from '../../src/builder/arch.ts';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { DEB_ARCH } from '../../src/pkg/deb/arch.ts';
import { useTempDir } from '../helpers/temp.ts';

const temp = useTempDir('debian-armhf');

async function warningsOf(yaml: string, archs?: string[]): Promise<string[]> {
  const dir = await temp();
  const path = join(dir, 'image.yaml');
  // A key file that is never read: the build stops at its first download, after the warning.
  await writeFile(join(dir, 'key.gpg'), 'not read');
  await writeFile(path, yaml.replace('KEY', join(dir, 'key.gpg')));
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
  // Port 9 of this machine (discard) is never fetched from: Node refuses it, so no request leaves.
  await assert.rejects(
    buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, archs, logger, memo: false }),
  );
  return warnings;
}

const debian = (archs: string) =>
  `contents:\n  repositories:\n    - deb [signed-by=KEY] http://127.0.0.1:9/debian bookworm main\n  packages: [base-files]\narchs: [${archs}]\n`;

describe('a Debian build of armhf', () => {
  it("warns that apk's armhf is built as Debian's armel, linux/arm/v6, and that Debian's armhf is armv7", async () => {
    const said = (await warningsOf(debian('armhf, x86_64'))).join('\n');
    assert.match(said, /archs names armhf, apk's name for linux\/arm\/v6: this Debian source builds it as its armel/);
    assert.match(said, /its own armhf is linux\/arm\/v7, written armv7 in archs/);
    assert.doesNotMatch((await warningsOf(debian('armv7'))).join('\n'), /armhf/);
    assert.match((await warningsOf(debian('x86_64'), ['armhf'])).join('\n'), /builds it as its armel/);
  });

  it('says nothing of an apk build of armhf, whose armhf is the one meant', async () => {
    const said = await warningsOf(
      'contents:\n  repositories:\n    - http://127.0.0.1:9/alpine/main\n  packages: [busybox]\narchs: [armhf]\n',
    );
    assert.doesNotMatch(said.join('\n'), /armel/);
    const debName = (a: string) => DEB_ARCH[a] ?? a;
    assert.deepEqual(renamedArchWarnings(['x86_64', 'armv7', 'x86'], debName, 'Debian'), []);
    assert.equal(renamedArchWarnings(['arm/v6'], debName, 'Debian').length, 0, 'arm/v6 is no Debian name');
  });
});
