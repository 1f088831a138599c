// What a failed run says it wrote (src/action/run.ts, PartialWriteError).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartialWriteError } from '../../src/action/run.ts';
import { ProvenantError } from '../../src/errors.ts';

const DIGEST = `sha256:${'a'.repeat(64)}` as const;

describe('a run that failed after writing', () => {
  it("says the cause's place with the cause, before what was written, not after the last image (a cold review)", () => {
    const cause = new ProvenantError('NETWORK', 'cannot reach 127.0.0.1:1', { where: 'http://127.0.0.1:1', hint: 'check the URL' });
    const err = new PartialWriteError(cause, DIGEST, [
      { location: 'oci:/work/image.oci', digest: DIGEST, tags: [] },
      { location: '127.0.0.1:5000/app', digest: DIGEST, tags: ['1.0'] },
    ]);
    assert.equal(
      err.describe(),
      `cannot reach 127.0.0.1:1 (http://127.0.0.1:1); written before the failure: oci:/work/image.oci@${DIGEST} (no tag), 127.0.0.1:5000/app@${DIGEST} (tagged 1.0)`,
    );
    assert.equal(err.code, 'NETWORK');
    assert.equal(err.hint, 'check the URL');
  });
});
