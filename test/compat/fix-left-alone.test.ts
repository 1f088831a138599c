/**
 * The account's “Left alone” names the problems the fixed image still has: a warning the fix did
 * not set out to fix may be solved all the same by the fix of a refusal (amazon-ecr's moving
 * BuildKit's entries out of the index ends the attestation rows they made), and then it is not
 * left, as the check of the result says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { statement, storeAttestations } from '../../src/attest/storage.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { parsePlatform } from '../../src/oci/platform.ts';
import { useTempLayout } from '../helpers/temp.ts';
import { synth } from './images.ts';

const layout = useTempLayout('compat-left-alone');
const ecr = selectTargets(await loadProfiles(), 'amazon-ecr')[0]!;

describe('fix: what it left alone', () => {
  it('names only the problems the fixed image still has', async () => {
    const src = await layout();
    const made = await synth(src, { platforms: [parsePlatform('linux/amd64'), parsePlatform('linux/arm64')] });
    const amd64 = made.images[0]!;
    const s = statement('https://example.org/t/v1', {}, [{ name: 'example.org/app', digest: amd64.digest }]);
    await src.putManifest(await storeAttestations(src, made.root, [{ manifest: amd64, statements: [s] }], 'buildkit-artifact'), {
      tags: ['1'],
    });
    const report = await fixImage(src, '1', await layout(), ecr, { tags: ['fixed'], probe: false });
    assert.equal(report.written, true, report.account.join('\n'));
    const before = report.before.problems.filter((p) => p.severity !== 'refuses').map((p) => p.rule);
    const after = (report.after?.problems ?? []).map((p) => p.rule);
    assert.ok(
      before.some((r) => !after.includes(r)),
      `a warning the fix solved: ${before} → ${after}`,
    );
    for (const p of report.leftAlone) assert.ok(after.includes(p.rule), `${p.rule} is left alone, but the fixed image does not have it`);
    for (const line of report.account.filter((l) => l.startsWith('Left alone'))) {
      assert.ok(
        after.some((r) => line.endsWith(` ${r}.`)),
        line,
      );
    }
  });
});
