// apt's candidate version across suites (src/pkg/resolve/resolve.ts, candidateVersion, and
// src/pkg/deb/release.ts, debPinPriority): a suite whose Release says `NotAutomatic: yes`
// (experimental; with `ButAutomaticUpgrades: yes`, backports) has a lower pin priority, so the
// main suite's version stays the candidate while it has the package. Taking the newest version of
// every suite made a dependency `libx (<< 2)` unresolvable where apt installs bookworm's libx 1.0.
// Two signed suites of a local repository (file://) stand in for a mirror.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCleartextMessage, generateKey, sign } from 'openpgp';
import { isProvenantError } from '../../../src/errors.ts';
import { type DebCandidate, debVersionScheme } from '../../../src/pkg/deb/candidates.ts';
import { debPinPriority } from '../../../src/pkg/deb/release.ts';
import { DebRepositorySource } from '../../../src/pkg/deb/source.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { type CandidateIndex, type Request, resolve } from '../../../src/pkg/resolve/resolve.ts';
import { useTempDir } from '../../helpers/temp.ts';

const tempDir = useTempDir('deb-backports');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

const stanza = (name: string, version: string, extra = ''): string =>
  `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\n${extra}Filename: pool/${name}_${version}_amd64.deb\nSHA256: ${sha256(`${name} ${version}`)}\n`;

/** Signed suites at `d`/repo, each with its Release's extra fields and Packages stanzas; a source reading them in order. */
async function suites(d: string, list: readonly { suite: string; fields: string; stanzas: string[] }[]) {
  const repo = join(d, 'repo');
  const k = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'archive' }], format: 'object' });
  await writeFile(join(d, 'archive.gpg'), k.publicKey.write());
  for (const { suite, fields, stanzas } of list) {
    const packages = enc(stanzas.join('\n'));
    await mkdir(join(repo, 'dists', suite, 'main', 'binary-amd64'), { recursive: true });
    await writeFile(join(repo, 'dists', suite, 'main', 'binary-amd64', 'Packages'), packages);
    const release = `Origin: Test\nSuite: ${suite}\nCodename: ${suite}\n${fields}Date: ${new Date().toUTCString()}\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha256(packages)} ${packages.length} main/binary-amd64/Packages\n`;
    const signed = await sign({ message: await createCleartextMessage({ text: release }), signingKeys: [k.privateKey] });
    await writeFile(join(repo, 'dists', suite, 'InRelease'), signed);
  }
  return new DebRepositorySource({
    repositories: list.map(({ suite }) => `deb [signed-by=./archive.gpg] file://${repo} ${suite} main`),
    keyring: [],
    packages: [],
    configPath: join(d, 'image.yaml'),
    baseDir: d,
    cache: new DownloadCache(join(d, 'cache')),
    logger: { debug() {}, info() {}, warn() {} },
  });
}

/** `name=version` of what `requests` resolve to. */
function installed(candidates: CandidateIndex<DebCandidate>, requests: Request[]): string[] {
  return resolve(requests, candidates, debVersionScheme).packages.map((p) => `${p.name}=${p.version}`);
}

describe('NotAutomatic suites (backports, experimental)', () => {
  it("keep the main suite's version as the candidate, and give a package only they have", async () => {
    const source = await suites(await tempDir(), [
      {
        suite: 'bookworm',
        fields: '',
        stanzas: [stanza('libx', '1.0'), stanza('app', '1.0', 'Depends: libx (<< 2)\n'), stanza('tool', '1.0')],
      },
      {
        suite: 'bookworm-backports',
        fields: 'NotAutomatic: yes\nButAutomaticUpgrades: yes\n',
        stanzas: [stanza('libx', '2.0'), stanza('tool', '2.0'), stanza('newer', '1.0', 'Depends: libx\n')],
      },
      { suite: 'experimental', fields: 'NotAutomatic: yes\n', stanzas: [stanza('libx', '3.0'), stanza('newer', '2.0', 'Depends: libx\n')] },
    ]);
    const { candidates } = await source.readIndex('x86_64');
    const index = candidates as CandidateIndex<DebCandidate>;
    // apt: app's libx (<< 2) is met by bookworm's 1.0, the candidate; backports' 2.0 is not it.
    assert.deepEqual(installed(index, [{ name: 'app' }]), ['app=1.0', 'libx=1.0']);
    assert.deepEqual(installed(index, [{ name: 'tool' }]), ['tool=1.0']);
    // Only backports and experimental have `newer`: backports' (priority 100) beats experimental's (1).
    assert.deepEqual(installed(index, [{ name: 'newer' }]), ['libx=1.0', 'newer=1.0']);
    // name=VERSION still takes the backports version, as apt-get install libx=2.0 does.
    assert.deepEqual(installed(index, [{ name: 'libx', constraint: { op: '=', version: '2.0' } }]), ['libx=2.0']);
    // A request backports alone would meet says why it is not taken.
    assert.throws(
      () => installed(index, [{ name: 'libx', constraint: { op: '>=', version: '2' } }]),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNRESOLVABLE'), String(err));
        assert.match(err.message, /candidate version of libx is 1\.0 \(the newest of the repositories of highest pin priority/);
        return true;
      },
    );
  });

  it('have the pin priority apt gives them without preferences', () => {
    assert.equal(debPinPriority({ fields: {} }), 500);
    assert.equal(debPinPriority({ fields: { notautomatic: 'no', butautomaticupgrades: 'yes' } }), 500);
    assert.equal(debPinPriority({ fields: { notautomatic: 'yes', butautomaticupgrades: 'yes' } }), 100);
    assert.equal(debPinPriority({ fields: { notautomatic: 'Yes' } }), 1);
  });
});
