// The `fix` command `check` prints under a problem must be one that fixes it: `fix` fixes refusals
// only unless given --all, so for a warning the command has --all, and run as printed it changes
// the image and the warning is gone.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('check-fix-command');

/** A two-platform index with BuildKit's attestation entries (unknown/unknown) in it, in a layout `src` under a new folder. */
async function buildkitIndex(): Promise<string> {
  const dir = await tempDir();
  const store = await LayoutStore.open(join(dir, 'src'), { create: true });
  const made = await synth(store, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
  const amd64 = made.images[0]!;
  const s = statement('https://example.org/t/v1', {}, [{ name: 'example.org/app', digest: amd64.digest }]);
  await store.putManifest(await storeAttestations(store, made.root, [{ manifest: amd64, statements: [s] }], 'buildkit-artifact'), {
    tags: ['1'],
  });
  return dir;
}

describe('the fix command check suggests', () => {
  it('for a warning: with --all, and run as printed it fixes the warning', async () => {
    const dir = await buildkitIndex();
    const checked = await cliOk(['check', 'oci:src:1', '--target', 'kubernetes'], { cwd: dir });
    assert.match(checked.stdout, /unknown-platforms \(warning: misdisplays\)/);
    const line = checked.stdout.split('\n').find((l) => l.includes('fix:') && l.includes('provenant fix'));
    assert.ok(line !== undefined, checked.stdout);
    const command = line.slice(line.indexOf('provenant fix ') + 'provenant '.length);
    assert.equal(command, 'fix oci:src:1 --target kubernetes -o DEST --all');
    const fixed = await runCli([...command.replace('DEST', 'oci:out:1').split(' ')], { cwd: dir });
    assert.equal(fixed.status, 0, fixed.stderr);
    assert.doesNotMatch(fixed.stdout, /Nothing to change/);
    const again = await cliOk(['check', 'oci:out:1', '--target', 'kubernetes'], { cwd: dir });
    assert.doesNotMatch(again.stdout, /unknown-platforms/);
  });
});
