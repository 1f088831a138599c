// A checked lock's inconsistencies are told in the syntax of the lock's ecosystem.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lockInconsistencies } from '../../src/builder/lock-consistent.ts';
import { debCandidate, debVersionScheme } from '../../src/pkg/deb/candidates.ts';
import type { LockedPackage } from '../../src/pkg/source.ts';

const repo = { url: 'https://mirror.invalid/debian', suite: 'bookworm', component: 'main', order: 0 };

function locked(name: string, version: string): LockedPackage {
  return {
    name,
    version,
    architecture: 'amd64',
    url: `https://mirror.invalid/debian/pool/${name}.deb`,
    checksum: `sha256:${'0'.repeat(64)}`,
  };
}

describe('lockInconsistencies', () => {
  it('writes a Debian lock’s unmet dependency and Breaks as Debian writes them', () => {
    const app = locked('app', '1.0');
    const lib = locked('libfoo', '1.0');
    const tool = locked('tool', '2.0');
    const listed = new Map([
      [
        app,
        [
          debCandidate(
            { package: 'app', version: '1.0', architecture: 'amd64', filename: 'pool/app.deb', depends: 'libfoo (>= 2.0)' },
            repo,
            'amd64',
          ),
        ],
      ],
      [lib, [debCandidate({ package: 'libfoo', version: '1.0', architecture: 'amd64', filename: 'pool/libfoo.deb' }, repo, 'amd64')]],
      [
        tool,
        [
          debCandidate(
            { package: 'tool', version: '2.0', architecture: 'amd64', filename: 'pool/tool.deb', breaks: 'libfoo (<< 2)' },
            repo,
            'amd64',
          ),
        ],
      ],
    ]);
    const problems = lockInconsistencies('amd64', [], [app, lib, tool], listed, debVersionScheme);
    assert.deepEqual(problems, [
      'app-1.0 (amd64) needs libfoo (>= 2.0), which no locked package meets',
      'tool-2.0 (amd64) conflicts with libfoo-1.0: Breaks: libfoo (<< 2)',
    ]);
  });
});
