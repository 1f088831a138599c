// Debian stanzas as resolver candidates, and the resolver on them (Multi-Arch, arch all,
// versioned provides, conflicts, malformed stanzas).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../../src/errors.ts';
import { debCandidate, debCandidateIndex, debCandidates, debVersionScheme, rankDebCandidates } from '../../../src/pkg/deb/candidates.ts';
import { parseControlStanzas } from '../../../src/pkg/deb/control.ts';
import { indexDebStanzas } from '../../../src/pkg/deb/stanza-index.ts';
import { resolve } from '../../../src/pkg/resolve/resolve.ts';

const repo = { url: 'https://mirror.invalid/debian', suite: 'bookworm', component: 'main', order: 0 };
const sha = (c: string) => c.repeat(64);

const PACKAGES = `Package: app
Version: 1.0-1
Architecture: amd64
Pre-Depends: libc6 (>= 2.36)
Depends: python3:any (>= 3.11), mail-transport-agent | postfix
Recommends: extra
Conflicts: app, oldapp
Breaks: older (<< 2)
Filename: pool/main/a/app/app_1.0-1_amd64.deb
Size: 1234
SHA256: ${sha('a')}
Source: app-src (1.0-0.1)
Section: utils
Priority: optional
Multi-Arch: foreign
Description: an app
 with a long description

Package: libc6
Version: 2.36-9+deb12u4
Architecture: amd64
Essential: yes
Filename: pool/main/g/glibc/libc6_2.36-9+deb12u4_amd64.deb
Size: 10
SHA256: ${sha('b')}
Multi-Arch: same

Package: python3
Version: 3.11.2-1+b1
Architecture: amd64
Filename: pool/main/p/python3/python3_3.11.2-1+b1_amd64.deb
SHA256: ${sha('c')}
Multi-Arch: allowed

Package: exim4
Version: 4.96-15
Architecture: all
Provides: mail-transport-agent (= 1.0)
Filename: pool/main/e/exim4/exim4_4.96-15_all.deb
SHA256: ${sha('d')}

Package: armonly
Version: 1
Architecture: arm64
Filename: pool/main/a/armonly/armonly_1_arm64.deb

Package: broken
Version: 1
Architecture: amd64
Depends: foo (>= )
Filename: pool/main/b/broken/broken_1_amd64.deb
`;

describe('debCandidates', () => {
  const stanzas = parseControlStanzas(PACKAGES, 'Packages');
  const { candidates, skipped } = debCandidates(stanzas, repo, 'amd64');

  it('keeps amd64 and all packages, and reports malformed ones', () => {
    assert.deepEqual(
      candidates.map((c) => c.name),
      ['app', 'libc6', 'python3', 'exim4'],
    );
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]?.name, 'broken');
    assert.match(skipped[0]?.reason ?? '', /Depends/);
  });

  it('reads dependencies, conflicts, provides and the stanza fields', () => {
    const app = candidates[0]!;
    assert.equal(app.id, 'pool/main/a/app/app_1.0-1_amd64.deb');
    assert.deepEqual(app.depends, [
      [{ name: 'libc6', constraint: { op: '>=', version: '2.36' } }],
      [{ name: 'python3:any', constraint: { op: '>=', version: '3.11' } }],
      [
        { name: 'mail-transport-agent', constraint: undefined },
        { name: 'postfix', constraint: undefined },
      ],
    ]);
    assert.deepEqual(app.conflicts, [
      { name: 'oldapp', constraint: undefined },
      { name: 'older', constraint: { op: '<<', version: '2' } },
    ]);
    assert.equal(app.size, 1234);
    assert.equal(app.source, 'app-src');
    assert.equal(app.sourceVersion, '1.0-0.1');
    assert.equal(app.description, 'an app\nwith a long description');
    assert.equal(candidates[1]?.essential, true);
    assert.deepEqual(candidates[2]?.provides, [{ name: 'python3:any', version: '3.11.2-1+b1' }]);
    assert.deepEqual(candidates[3]?.provides, [{ name: 'mail-transport-agent', version: '1.0' }]);
  });

  it('adds Recommends on request', () => {
    const app = debCandidate(stanzas[0]!, repo, 'amd64', { withRecommends: true });
    assert.deepEqual(app.depends.at(-1), [{ name: 'extra', constraint: undefined }]);
  });

  it('resolves with the resolver', () => {
    const { packages } = resolve([{ name: 'app' }], candidates, debVersionScheme);
    assert.deepEqual(
      packages.map((p) => `${p.name}=${p.version}`),
      ['app=1.0-1', 'exim4=4.96-15', 'libc6=2.36-9+deb12u4', 'python3=3.11.2-1+b1'],
    );
  });

  it('refuses a stanza without a version or a path', () => {
    assert.throws(
      () => debCandidate({ package: 'x', architecture: 'all', filename: 'p' }, repo, 'amd64'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
    assert.throws(
      () => debCandidate({ package: 'x', version: '1', architecture: 'all' }, repo, 'amd64'),
      (err) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
  });
});

describe('Priority and version', () => {
  const stanza = (name: string, version: string, priority: string, provides = '') =>
    `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nPriority: ${priority}\n${provides === '' ? '' : `Provides: ${provides}\n`}Filename: pool/${name}_${version}.deb\n`;
  const repos = [0, 1].map((order) => ({ url: `https://mirror.invalid/r${order}`, suite: 'bookworm', component: 'main', order }));
  /** What the resolver chooses for `request` from these Packages files, through the lazy index a build uses and through ranked lists. */
  const chosen = (texts: readonly string[], request: string): string[][] => {
    const files = texts.map((text, f) => {
      const bytes = new TextEncoder().encode(text);
      return { bytes, index: indexDebStanzas(bytes, `f${f}`), repo: repos[f]!, where: `f${f}` };
    });
    const lists = texts.map((text, f) => debCandidates(parseControlStanzas(text, `f${f}`), repos[f]!, 'amd64').candidates);
    return [debCandidateIndex(files, 'amd64'), rankDebCandidates(lists.flat())].map((candidates) =>
      resolve([{ name: request }], candidates, debVersionScheme).packages.map((p) => `${p.name}=${p.version}`),
    );
  };

  it("takes a package's newest version, whatever Priority each version's stanza has, as apt does", () => {
    const older = stanza('foo', '1.0-1', 'optional');
    const newer = stanza('foo', '2.0-1', 'extra');
    assert.deepEqual(chosen([older, newer], 'foo'), [['foo=2.0-1'], ['foo=2.0-1']]);
    assert.deepEqual(chosen([newer, older], 'foo'), [['foo=2.0-1'], ['foo=2.0-1']]);
    // One file holding both versions.
    assert.deepEqual(chosen([`${older}\n${newer}`], 'foo'), [['foo=2.0-1'], ['foo=2.0-1']]);
  });

  it('ranks providers of a virtual package by the Priority of their newest versions', () => {
    // mawk's newest is required, gawk's newest optional, though an older gawk says important.
    const texts = [
      [stanza('mawk', '1.3-1', 'required', 'awk'), stanza('gawk', '4.0-1', 'important', 'awk')].join('\n'),
      stanza('gawk', '5.2-1', 'optional', 'awk'),
    ];
    assert.deepEqual(chosen(texts, 'awk'), [['mawk=1.3-1'], ['mawk=1.3-1']]);
    // With mawk's newest extra, gawk (optional) wins.
    const demoted = [texts[0]!, `${texts[1]}\n${stanza('mawk', '1.4-1', 'extra', 'awk')}`];
    assert.deepEqual(chosen(demoted, 'awk'), [['gawk=5.2-1'], ['gawk=5.2-1']]);
  });
});
