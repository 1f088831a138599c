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
      { name: 'oldapp', constraint: undefined, field: 'Conflicts' },
      { name: 'older', constraint: { op: '<<', version: '2' }, field: 'Breaks' },
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

  it('ranks providers of a virtual package a dependency names by the Priority of their newest versions', () => {
    // mawk's newest is required, gawk's newest optional, though an older gawk says important.
    const user = 'Package: uses-awk\nVersion: 1\nArchitecture: all\nDepends: awk\nFilename: pool/uses-awk_1.deb\n';
    const texts = [
      [user, stanza('mawk', '1.3-1', 'required', 'awk'), stanza('gawk', '4.0-1', 'important', 'awk')].join('\n'),
      stanza('gawk', '5.2-1', 'optional', 'awk'),
    ];
    assert.deepEqual(chosen(texts, 'uses-awk'), [
      ['mawk=1.3-1', 'uses-awk=1'],
      ['mawk=1.3-1', 'uses-awk=1'],
    ]);
    // With mawk's newest extra, gawk (optional) wins.
    const demoted = [texts[0]!, `${texts[1]}\n${stanza('mawk', '1.4-1', 'extra', 'awk')}`];
    assert.deepEqual(chosen(demoted, 'uses-awk'), [
      ['gawk=5.2-1', 'uses-awk=1'],
      ['gawk=5.2-1', 'uses-awk=1'],
    ]);
  });
});

describe("apt's candidate version", () => {
  const stanza = (name: string, version: string, extra = '') =>
    `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\n${extra}Filename: pool/${name}_${version}.deb\n`;
  // alt-b 1.0 in the suite, 2.0 in its update (bookworm and bookworm-security, say).
  const suite = [
    stanza('alt-b', '1.0'),
    stanza('tool', '1.0'),
    stanza('wantsold', '1.0', 'Depends: alt-b (<< 2.0)\n'),
    stanza('wantsold-or-tool', '1.0', 'Depends: alt-b (<< 2.0) | tool\n'),
    stanza('pv-old', '1.0', 'Provides: feature (= 1)\n'),
    stanza('wantsfeature', '1.0', 'Depends: feature (= 1)\n'),
  ].join('\n');
  const update = [stanza('alt-b', '2.0'), stanza('pv-old', '2.0', 'Provides: feature (= 2)\n')].join('\n');
  const repos = [0, 1].map((order) => ({ url: `https://mirror.invalid/r${order}`, suite: 'bookworm', component: 'main', order }));
  const index = () =>
    debCandidateIndex(
      [suite, update].map((text, f) => {
        const bytes = new TextEncoder().encode(text);
        return { bytes, index: indexDebStanzas(bytes, `f${f}`), repo: repos[f]!, where: `f${f}` };
      }),
      'amd64',
    );
  const chosen = (requests: readonly { name: string; constraint?: { op: string; version: string } }[]): string[] =>
    resolve(requests, index(), debVersionScheme).packages.map((p) => `${p.name}=${p.version}`);
  const unresolvable = (requests: readonly { name: string; constraint?: { op: string; version: string } }[], message: RegExp) =>
    assert.throws(
      () => chosen(requests),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNRESOLVABLE'), String(err));
        assert.match(err.message, message);
        assert.match(err.hint ?? '', /name=VERSION/);
        return true;
      },
    );

  it('refuses a dependency only an older version meets, naming the package, the constraint and the candidate, as apt does', () => {
    // apt-get install wantsold: "Depends: alt-b (< 2.0) but 2.0 is to be installed".
    unresolvable(
      [{ name: 'wantsold' }],
      /cannot install alt-b \(<< 2\.0\) \(needed by wantsold-1\.0\): the candidate version of alt-b is 2\.0 \(the newest the repositories list\), and it does not satisfy alt-b \(<< 2\.0\)/,
    );
  });

  it('takes the next alternative when the first is met only by an older version, as apt does', () => {
    assert.deepEqual(chosen([{ name: 'wantsold-or-tool' }]), ['tool=1.0', 'wantsold-or-tool=1.0']);
  });

  it("meets a versioned dependency on a virtual package only by the provider's candidate", () => {
    unresolvable(
      [{ name: 'wantsfeature' }],
      /cannot install feature \(= 1\) \(needed by wantsfeature-1\.0\): the candidate version of pv-old is 2\.0/,
    );
  });

  it('installs the version a request pins with "=", as apt-get install name=VERSION does, and what needs it', () => {
    assert.deepEqual(chosen([{ name: 'wantsold' }, { name: 'alt-b', constraint: { op: '=', version: '1.0' } }]), [
      'alt-b=1.0',
      'wantsold=1.0',
    ]);
    assert.deepEqual(chosen([{ name: 'alt-b', constraint: { op: '=', version: '1.0' } }]), ['alt-b=1.0']);
  });

  it('refuses a request whose constraint only an older version meets, pointing to the pin', () => {
    unresolvable([{ name: 'alt-b', constraint: { op: '<<', version: '2.0' } }], /the candidate version of alt-b is 2\.0/);
  });

  it('refuses a request for a virtual package several packages provide, listing them, as apt-get install does', () => {
    const text = [
      stanza('mawk', '1.3', 'Provides: awk\n'),
      stanza('gawk', '5.2', 'Provides: awk\n'),
      stanza('solo', '1', 'Provides: only-one\n'),
    ].join('\n');
    const bytes = new TextEncoder().encode(text);
    const candidates = debCandidateIndex([{ bytes, index: indexDebStanzas(bytes, 'f'), repo: repos[0]!, where: 'f' }], 'amd64');
    assert.throws(
      () => resolve([{ name: 'awk', where: 'image.yaml:4:7' }], candidates, debVersionScheme),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNRESOLVABLE'), String(err));
        assert.match(err.message, /^awk is a virtual package provided by gawk, mawk: contents\.packages must name the one to install/);
        assert.equal(err.where, 'image.yaml:4:7');
        assert.equal(err.hint, 'list one of gawk, mawk in contents.packages instead of awk');
        return true;
      },
    );
    // One provider: taken, as apt's "Note, selecting 'solo' instead of 'only-one'".
    assert.deepEqual(
      resolve([{ name: 'only-one' }], candidates, debVersionScheme).packages.map((p) => p.name),
      ['solo'],
    );
  });

  it('takes a request for a virtual package that another request names a provider of, in either order', () => {
    // mawk ranks first (Priority: required): taken for `awk` alone before its provider gawk was known.
    const text = [
      stanza('mawk', '1.3', 'Provides: awk\nPriority: required\n'),
      stanza('gawk', '5.2', 'Provides: awk\nPriority: optional\n'),
    ].join('\n');
    const bytes = new TextEncoder().encode(text);
    const candidates = () => debCandidateIndex([{ bytes, index: indexDebStanzas(bytes, 'f'), repo: repos[0]!, where: 'f' }], 'amd64');
    const names = (requests: { name: string }[]) => resolve(requests, candidates(), debVersionScheme).packages.map((p) => p.name);
    assert.deepEqual(names([{ name: 'awk' }, { name: 'gawk' }]), ['gawk']);
    assert.deepEqual(names([{ name: 'gawk' }, { name: 'awk' }]), ['gawk']);
    assert.deepEqual(names([{ name: 'awk' }, { name: 'mawk' }]), ['mawk']);
  });

  it('says a Debian conflict in Debian syntax, with its field', () => {
    const text = [stanza('cfa', '1', 'Breaks: cfb (<< 2)\n'), stanza('cfb', '1')].join('\n');
    const bytes = new TextEncoder().encode(text);
    const candidates = debCandidateIndex([{ bytes, index: indexDebStanzas(bytes, 'f'), repo: repos[0]!, where: 'f' }], 'amd64');
    assert.throws(
      () => resolve([{ name: 'cfa' }, { name: 'cfb' }], candidates, debVersionScheme),
      (err: unknown) => isProvenantError(err, 'UNRESOLVABLE') && /: Breaks: cfb \(<< 2\)$/.test(err.message) && !err.message.includes('!'),
    );
  });
});
