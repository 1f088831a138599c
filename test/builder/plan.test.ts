// Planning a build from a lock: each architecture's packages, by the name its ecosystem gives it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Lock } from '../../src/builder/lock.ts';
import { planBuild } from '../../src/builder/plan.ts';
import { isProvenantError } from '../../src/errors.ts';
import { silentLogger } from '../../src/io/types.ts';
import { openPackageSource } from '../../src/pkg/sources.ts';

const base = { keyring: [], packages: ['dash'], configPath: 'image.yaml', baseDir: '.', cache: undefined, logger: silentLogger };
const sha = `sha256:${'0'.repeat(64)}`;
const lock: Lock = {
  version: 'v1',
  config: { name: 'image.yaml', checksum: '' },
  contents: {
    keyring: [],
    build_repositories: [],
    runtime_repositories: [],
    repositories: [],
    packages: [{ name: 'dash', version: '0.5.12-2', architecture: 'amd64', url: 'http://127.0.0.1:9/pool/dash.deb', checksum: sha }],
  },
};

describe('planBuild from a lock', () => {
  it("takes the packages the lock names for each architecture, in the ecosystem's spelling", async () => {
    const source = await openPackageSource({ ...base, repositories: ['deb http://127.0.0.1:9/debian bookworm main'] });
    const plan = await planBuild(source, ['x86_64'], { packages: base.packages, configPath: 'image.yaml', lock });
    assert.deepEqual(
      plan.packages.get('x86_64')?.map((p) => p.name),
      ['dash'],
    );
    assert.deepEqual(plan.indexes, []);
  });

  it('refuses an architecture the lock has no packages for, for Debian as for apk', async () => {
    for (const repositories of [['deb http://127.0.0.1:9/debian bookworm main'], ['http://127.0.0.1:9/alpine/main']]) {
      const source = await openPackageSource({ ...base, repositories });
      await assert.rejects(
        planBuild(source, ['x86_64', 'aarch64'], { packages: base.packages, configPath: 'image.yaml', lock }),
        (err: unknown) => isProvenantError(err, 'USAGE') && /the lock has no packages for (aarch64|x86_64)/.test(err.message),
      );
    }
  });
});
