// When a refusal has no fix, `fix` writes nothing and its hint says what `--force` would write:
// with no other fix to make (google-cloud-run of an arm64-only image), not "the other fixes", but
// a copy of the image as it is, still refused; and that is what --force writes (exit 7).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePlatform } from '../../src/oci/platform.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { synth } from '../compat/images.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('fix-force-hint');

describe('fix of a refusal no change can fix', () => {
  it('says --force would write the image as it is, and --force does that', async () => {
    const dir = await tempDir();
    const store = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await synth(store, { platforms: [parsePlatform('linux/arm64')], tag: '1' });
    const r = await runCli(['fix', 'oci:src:1', '--target', 'google-cloud-run', '-o', 'oci:out:1'], { cwd: dir });
    assert.equal(r.status, 7, r.stderr);
    assert.doesNotMatch(r.stderr, /the other fixes/);
    assert.match(
      r.stderr,
      /hint: needs-amd64: see the account above; no other fix applies: --force would write a copy of the image as it is, which google-cloud-run still refuses/,
    );
    const forced = await runCli(['fix', 'oci:src:1', '--target', 'google-cloud-run', '-o', 'oci:out:1', '--force'], { cwd: dir });
    assert.equal(forced.status, 7, forced.stderr);
    assert.equal((await cliOk(['digest', 'oci:out:1'], { cwd: dir })).stdout.trim(), made.root.digest);
  });
});
