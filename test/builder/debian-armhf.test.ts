// `armhf` written in a Debian configuration's archs (or --arch) is apk's armhf (ARMv6), built as
// Debian's armel: the build says so, since someone who wrote Debian's name most likely meant
// Debian's armhf (armv7). Only the name written counts: arm/v6 and --platform linux/armel become
// apk's armhf too, and mean what they build.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { useTempDir } from '../helpers/temp.ts';

const root = join(import.meta.dirname, '..', '..');
const temp = useTempDir('debian-armhf');

/** A folder with `image.yaml` (and `files`), whose Debian line names a key file never read. */
async function configDir(yaml: string, files: Record<string, string> = {}): Promise<string> {
  const dir = await temp();
  await writeFile(join(dir, 'key.gpg'), 'not read');
  for (const [name, text] of Object.entries({ 'image.yaml': yaml, ...files }))
    await writeFile(join(dir, name), text.replace('KEY', join(dir, 'key.gpg')));
  return dir;
}

// Port 9 of this machine (discard) is never fetched from: Node refuses it, so no request leaves
// and the build stops at its first download, after the warning.
const debian = (archs: string) =>
  `contents:\n  repositories:\n    - deb [signed-by=KEY] http://127.0.0.1:9/debian bookworm main\n  packages: [base-files]\n${archs}`;

async function buildWarnings(yaml: string, files?: Record<string, string>): Promise<string> {
  const dir = await configDir(yaml, files);
  const path = join(dir, 'image.yaml');
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
  await assert.rejects(buildImage({ config: await loadConfig(path, { hostArch: 'x86_64' }), configPath: path, logger, memo: false }));
  return warnings.join('\n');
}

function cliStderr(dir: string, flags: string[]): string {
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'src', 'cli', 'main.ts'),
      'build',
      join(dir, 'image.yaml'),
      '-o',
      `oci:${join(dir, 'out')}`,
      '--cache-dir',
      join(dir, 'cache'),
      ...flags,
    ],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } },
  );
  assert.notEqual(r.status, 0, 'the build cannot fetch from port 9');
  return r.stderr;
}

const WARNED =
  /names armhf, apk's name for linux\/arm\/v6: this Debian source builds it as its armel \(linux\/arm\/v6\); its own armhf is linux\/arm\/v7, written armv7/;

describe('a Debian build of armhf', () => {
  it('warns where archs names armhf, in the file itself or an included one', async () => {
    assert.match(await buildWarnings(debian('archs: [armhf, x86_64]\n')), /^archs names armhf/m);
    assert.match(await buildWarnings(debian('archs:\n  - "armhf"\n')), WARNED);
    const included = await buildWarnings(debian('include: base.yaml\n'), { 'base.yaml': 'archs: [armhf]\n' });
    assert.match(included, WARNED);
  });

  it('says nothing where archs names the same architecture otherwise (arm/v6) or names armv7', async () => {
    assert.doesNotMatch(await buildWarnings(debian('archs: [arm/v6]\n')), /armhf|armel/);
    assert.doesNotMatch(await buildWarnings(debian('archs: [armv7, x86_64]\n')), /armhf|armel/);
  });

  it('says nothing of an apk build of armhf, whose armhf is the one meant', async () => {
    const said = await buildWarnings(
      'contents:\n  repositories:\n    - http://127.0.0.1:9/alpine/main\n  packages: [busybox]\narchs: [armhf]\n',
    );
    assert.doesNotMatch(said, /armel/);
  });

  it('reads the configuration again for archs as written on a Debian build only: an apk one warns of nothing', async () => {
    /** How often the build reads the text of the configuration it is given, up to its first download. */
    const textReads = async (yaml: string): Promise<number> => {
      const dir = await configDir(yaml);
      const path = join(dir, 'image.yaml');
      const loaded = await loadConfig(path, { hostArch: 'x86_64' });
      let reads = 0;
      const files = loaded.files.map((f) => ({
        ...f,
        get content() {
          reads++;
          return f.content;
        },
      }));
      await assert.rejects(buildImage({ config: { ...loaded, files }, configPath: path, memo: false }));
      return reads;
    };
    assert.equal(
      await textReads('contents:\n  repositories:\n    - http://127.0.0.1:9/alpine/main\n  packages: [busybox]\narchs: [armhf]\n'),
      0,
    );
    assert.ok((await textReads(debian('archs: [armhf]\n'))) > 0, 'a Debian build reads archs as written');
  });

  it('warns on the command line for --arch armhf only, not for --platform linux/armel, linux/arm/v6 or --arch arm/v6', async () => {
    const dir = await configDir(debian('archs: [arm/v6]\n'));
    assert.match(cliStderr(dir, ['--arch', 'armhf']), /warning: --arch names armhf[^\n]*written armv7 in --arch/);
    assert.match(cliStderr(dir, ['--arch', 'x86_64,armhf']), WARNED);
    for (const flags of [
      [],
      ['--platform', 'linux/armel'],
      ['--platform', 'linux/arm/v6'],
      ['--arch', 'arm/v6'],
      ['--platform', 'linux/armhf'],
    ])
      assert.doesNotMatch(cliStderr(dir, flags), /names armhf|armel/, flags.join(' '));
    // --platform names what is built, as OCI names it: the configuration's archs are not read.
    const written = await configDir(debian('archs: [armhf]\n'));
    assert.doesNotMatch(cliStderr(written, ['--platform', 'linux/armel']), /names armhf/);
  });
});
