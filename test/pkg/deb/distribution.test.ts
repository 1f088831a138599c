// Which Debian release an image without base-files is: os-release and debian_version made from
// the signed Release of the suite its packages came from.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCleartextMessage, generateKey, type PrivateKey, sign } from 'openpgp';
import { isProvenantError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { debDistributionFiles, debianReleaseFiles } from '../../../src/pkg/deb/distribution.ts';

// bookworm's /usr/lib/os-release, as base-files 12.4+deb12u11 installs it.
const BOOKWORM = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

const osRelease = (files: { path: string; text: string }[] | undefined) => files?.find((f) => f.path === 'etc/os-release')?.text;
const debianVersion = (files: { path: string; text: string }[] | undefined) => files?.find((f) => f.path === 'etc/debian_version')?.text;

describe('debianReleaseFiles', () => {
  it("writes bookworm's os-release as base-files does, from the release, its updates or its security suite alike", () => {
    for (const [codename, version] of [
      ['bookworm', '12.15'],
      ['bookworm-updates', '12-updates'],
      ['bookworm-security', '12'],
    ] as const) {
      const files = debianReleaseFiles({ origin: 'Debian', codename, version });
      assert.equal(osRelease(files), BOOKWORM, codename);
      // The major number alone: a point release changes neither file.
      assert.equal(debianVersion(files), '12\n', codename);
    }
  });

  it("writes trixie's without DEBIAN_VERSION_FULL, and testing's and unstable's without a version", () => {
    const trixie = osRelease(debianReleaseFiles({ origin: 'Debian', codename: 'trixie', version: '13.8' }));
    assert.match(trixie ?? '', /^PRETTY_NAME="Debian GNU\/Linux 13 \(trixie\)"\n.*VERSION_ID="13"\n/s);
    assert.doesNotMatch(trixie ?? '', /DEBIAN_VERSION_FULL/);
    const forky = debianReleaseFiles({ origin: 'Debian', codename: 'forky', version: '' });
    assert.match(
      osRelease(forky) ?? '',
      /^PRETTY_NAME="Debian GNU\/Linux forky"\nNAME="Debian GNU\/Linux"\nVERSION_CODENAME=forky\nID=debian\n/,
    );
    assert.doesNotMatch(osRelease(forky) ?? '', /VERSION_ID/);
    assert.equal(debianVersion(forky), 'forky/sid\n');
    assert.equal(debianVersion(debianReleaseFiles({ origin: 'Debian', codename: 'sid', version: '' })), 'sid\n');
  });

  it("gives nothing for a Release that is not Debian's, or whose codename is not one", () => {
    assert.equal(debianReleaseFiles({ origin: 'Ubuntu', codename: 'noble', version: '24.04' }), undefined);
    assert.equal(debianReleaseFiles({ origin: 'Debian', codename: 'Bookworm"\nID=x', version: '12' }), undefined);
    assert.equal(debianReleaseFiles({ origin: 'Debian', codename: '', version: '12' }), undefined);
  });
});

describe('debDistributionFiles, from signed Releases in a local repository', () => {
  let dir: string;
  let key: Awaited<ReturnType<typeof generateKey>>;
  let keyring: string;
  const url = () => `file://${join(dir, 'repo')}`;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-deb-distribution-'));
    key = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'archive' }], format: 'object' });
    keyring = join(dir, 'archive.asc');
    await writeFile(keyring, key.publicKey.armor());
    const now = new Date().toUTCString().replace('GMT', 'UTC');
    for (const [suite, codename, version, origin] of [
      ['stable', 'bookworm', '12.15', 'Debian'],
      ['stable-security', 'bookworm-security', '12', 'Debian'],
      ['other', 'noble', '24.04', 'Ubuntu'],
    ] as const) {
      const text = `Origin: ${origin}\nLabel: ${origin}\nSuite: ${suite}\nVersion: ${version}\nCodename: ${codename}\nDate: ${now}\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n`;
      await mkdir(join(dir, 'repo', 'dists', suite), { recursive: true });
      await writeFile(join(dir, 'repo', 'dists', suite, 'InRelease'), await clearsign(text, [key.privateKey]));
    }
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const filesFor = (repositories: string[]) =>
    debDistributionFiles(
      {
        repositories,
        keyring: [],
        packages: [],
        configPath: join(dir, 'image.yaml'),
        baseDir: dir,
        cache: undefined,
        logger: silentLogger,
      },
      (a) => (a === 'x86_64' ? 'amd64' : a),
    )('x86_64');

  it("takes the release suite's Release over its security suite's, whatever their order, and says where from", async () => {
    const lines = [`deb [signed-by=${keyring}] ${url()} stable-security main`, `deb [signed-by=${keyring}] ${url()} stable main`];
    const got = await filesFor(lines);
    assert.equal(osRelease(got.files), BOOKWORM);
    assert.match(got.warning, /base-files .* is not in the image; .* made from file:\/\/.*\/dists\/stable\/InRelease/);
    // The security suite alone still says which release it is.
    const security = await filesFor(lines.slice(0, 1));
    assert.equal(osRelease(security.files), BOOKWORM);
  });

  it("makes no files from a Release that is not Debian's, nor from a repository for other architectures, and warns", async () => {
    const other = await filesFor([`deb [signed-by=${keyring}] ${url()} other main`]);
    assert.deepEqual(other.files, []);
    assert.match(other.warning, /no configured suite's Release is Debian's/);
    // A repository for other architectures is not read: the Ubuntu one is the only one left.
    const forArm = await filesFor([
      `deb [signed-by=${keyring} arch=arm64] ${url()} stable main`,
      `deb [signed-by=${keyring}] ${url()} other main`,
    ]);
    assert.deepEqual(forArm.files, []);
  });

  it('refuses a Release no key of the keyring signed, as reading the indexes does', async () => {
    const stranger = await generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'stranger' }], format: 'object' });
    const strangerKeyring = join(dir, 'stranger.asc');
    await writeFile(strangerKeyring, stranger.publicKey.armor());
    await assert.rejects(filesFor([`deb [signed-by=${strangerKeyring}] ${url()} stable main`]), (err: unknown) =>
      isProvenantError(err, 'UNTRUSTED_KEY'),
    );
  });
});

async function clearsign(text: string, keys: PrivateKey[]): Promise<Uint8Array> {
  return new TextEncoder().encode(await sign({ message: await createCleartextMessage({ text }), signingKeys: keys }));
}
