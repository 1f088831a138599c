// `provenant lock` through the CLI, over a small signed apk repository made with `provenant apk`:
// replacing a lock tells on standard error what changed against it, per architecture.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliOk, makeApkProject, runCli } from '../helpers/cli.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';

const ARCHS = ['x86_64', 'aarch64'] as const;
const env = { SOURCE_DATE_EPOCH: '1700000000' };

describe('provenant lock over an existing lock', () => {
  let dir: string;
  const lock = (...args: string[]) => cliOk(['lock', 'image.yaml', '--cache-dir', 'cache', '-q', ...args], { cwd: dir, env });

  /** Builds `name`-`version` for every architecture, and indexes each architecture's `packages` (name-version). */
  const publish = async (built: readonly [string, string][], indexed: readonly string[]) => {
    for (const arch of ARCHS) {
      for (const [name, version] of built) {
        const apk = `repo/${arch}/${name}-${version}.apk`;
        await cliOk(
          ['apk', 'build', 'content', '--name', name, '--version', version, '--arch', arch, '--key', 'keys/test.rsa', '-o', apk],
          {
            cwd: dir,
            env,
          },
        );
      }
      const files = indexed.map((p) => `repo/${arch}/${p}.apk`);
      await cliOk(['apk', 'index', ...files, '--key', 'keys/test.rsa', '-o', `repo/${arch}/APKINDEX.tar.gz`], { cwd: dir, env });
    }
  };
  const requesting = async (packages: string) => {
    const config = join(dir, 'image.yaml');
    await writeFile(config, (await readFile(config, 'utf8')).replace(/packages: \[[^\]]*\]/, `packages: [${packages}]`));
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-lock-changes-'));
    await makeApkProject(dir, { archs: ARCHS });
    await publish([['old', '1.0-r0']], ['hello-1.0-r0', 'old-1.0-r0']);
    await requesting('hello, old');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says nothing more when there was no lock, then tells what each later lock changed', async () => {
    const first = await lock('--arch', 'x86_64');
    assert.equal(first.stdout, 'locked 2 packages for x86_64 in image.lock.json\n');
    assert.equal(first.stderr, '');

    // Every architecture now: aarch64's packages are new, x86_64's are as they were.
    const both = await lock();
    assert.equal(
      both.stderr,
      [
        'image.lock.json: changes against the lock it replaces',
        '  aarch64: 2 added',
        '    + hello 1.0-r0',
        '    + old 1.0-r0',
        '  x86_64: unchanged',
        // The lock names each architecture's repository.
        '  also changed: contents.repositories',
        '',
      ].join('\n'),
    );

    const again = await lock();
    assert.equal(again.stderr, 'image.lock.json: unchanged\n');

    // A newer hello, old no longer asked for, extra asked for: on both architectures alike.
    await publish(
      [
        ['hello', '1.1-r0'],
        ['extra', '2.0-r0'],
      ],
      ['hello-1.0-r0', 'hello-1.1-r0', 'old-1.0-r0', 'extra-2.0-r0'],
    );
    await requesting('hello, extra');
    const moved = await lock('--format', 'json');
    const perArch = (arch: string) => [
      `  ${arch}: 1 added, 1 removed, 1 changed`,
      '    + extra 2.0-r0',
      '    - old 1.0-r0',
      '    ~ hello 1.0-r0 -> 1.1-r0',
    ];
    assert.equal(
      moved.stderr,
      [
        'image.lock.json: changes against the lock it replaces',
        ...perArch('aarch64'),
        ...perArch('x86_64'),
        // The configuration's text changed, and so its checksum.
        '  also changed: config.checksum',
        '',
      ].join('\n'),
    );
    const json = JSON.parse(moved.stdout) as {
      changes: {
        architectures: { architecture: string; changed: { name: string; from: { version: string }; to: { version: string } }[] }[];
      };
    };
    assert.deepEqual(
      json.changes.architectures.map((a) => [a.architecture, a.changed.map((c) => `${c.name} ${c.from.version} ${c.to.version}`)]),
      [
        ['aarch64', ['hello 1.0-r0 1.1-r0']],
        ['x86_64', ['hello 1.0-r0 1.1-r0']],
      ],
    );
  });

  it('refuses to write over a file that is not a lock, before resolving anything, and leaves it as it was', async () => {
    const config = await readFile(join(dir, 'image.yaml'), 'utf8');
    // The configuration given as the lock to write: the mistake this guards against.
    const r = await runCli(['lock', 'image.yaml', '--cache-dir', 'fresh-cache', '-q', '-o', 'image.yaml'], { cwd: dir, env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /image\.yaml holds something else than a lock file, and is not written over: the lock is not JSON/);
    assert.match(r.stderr, /remove the file first if it should be replaced/);
    assert.equal(await readFile(join(dir, 'image.yaml'), 'utf8'), config);
    // Refused before any repository was read: nothing was fetched into the cache it named.
    await assert.rejects(stat(join(dir, 'fresh-cache')), { code: 'ENOENT' });

    // The refusal says where the file stops being JSON, and quotes none of it (a secret given by mistake).
    await writeFile(join(dir, 'secrets.env'), 'TOKEN=ghp_0123456789abcdef\n');
    const secret = await runCli(['lock', 'image.yaml', '--cache-dir', 'fresh-cache', '-q', '-o', 'secrets.env'], { cwd: dir, env });
    assert.equal(secret.status, 2, secret.stderr);
    assert.match(
      secret.stderr,
      /secrets\.env holds something else than a lock file, and is not written over: the lock is not JSON \(unexpected "T"\)/,
    );
    assert.doesNotMatch(secret.stderr, /ghp_|0123456789/);

    await writeFile(join(dir, 'notes.lock.json'), 'not a lock\n');
    const built = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out', '--write-lock', 'notes.lock.json'], {
      cwd: dir,
      env,
    });
    assert.equal(built.status, 2, built.stderr);
    assert.match(built.stderr, /notes\.lock\.json holds something else than a lock file/);
    assert.equal(await readFile(join(dir, 'notes.lock.json'), 'utf8'), 'not a lock\n');
    await assert.rejects(stat(join(dir, 'out')), { code: 'ENOENT' });
  });

  it('writes a lock kept behind a symlink where the link leads, leaving the link', async () => {
    await mkdir(join(dir, 'shared'), { recursive: true });
    await lock('-o', 'shared/real.lock.json');
    await symlink('shared/real.lock.json', join(dir, 'linked.lock.json'));
    await requesting('hello');
    const r = await lock('-o', 'linked.lock.json');
    assert.match(r.stderr, /^linked\.lock\.json: changes against the lock it replaces$/m);
    assert.ok((await lstat(join(dir, 'linked.lock.json'))).isSymbolicLink());
    const written = JSON.parse(await readFile(join(dir, 'shared', 'real.lock.json'), 'utf8')) as {
      contents: { packages: { name: string }[] };
    };
    assert.deepEqual([...new Set(written.contents.packages.map((p) => p.name))], ['hello']);
    await requesting('hello, old');
  });

  it('says what changed when build --write-lock replaces a lock, as lock does', async () => {
    await lock('-o', 'written.lock.json');
    await requesting('hello');
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:written-out', '--write-lock', 'written.lock.json'],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^written\.lock\.json: changes against the lock it replaces$/m);
    assert.match(r.stderr, /^ {4}- old 1\.0-r0$/m);
    await requesting('hello, old');
  });

  it('leaves the lock build --write-lock would replace as it was when the image cannot be written', async () => {
    await lock('-o', 'kept.lock.json');
    const before = await readFile(join(dir, 'kept.lock.json'), 'utf8');
    await requesting('hello');
    // The output is opened once the build is done, and fails then: a file stands where its folder would be.
    await writeFile(join(dir, 'in-the-way'), 'a file');
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:in-the-way/out', '--write-lock', 'kept.lock.json'],
      { cwd: dir, env },
    );
    await requesting('hello, old');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /in-the-way/);
    assert.equal(await readFile(join(dir, 'kept.lock.json'), 'utf8'), before);
    assert.doesNotMatch(r.stderr, /changes against the lock it replaces/);
  });

  it('says the image is written when the lock build --write-lock writes after it cannot be', {
    skip: existsSync('/proc/self') ? false : 'no /proc',
  }, async () => {
    await requesting('hello');
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:lockless-out', '--write-lock', '/proc/x.lock.json'],
      {
        cwd: dir,
        env,
      },
    );
    await requesting('hello, old');
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^provenant build: cannot write \/proc\/x\.lock\.json: \/proc takes no new files; the image is written as oci:lockless-out@sha256:[0-9a-f]{64}; the lock is not\n/,
    );
    assert.doesNotMatch(r.stderr, /nothing was written/);
  });

  it('says why build --lock cannot read the lock: not there, a folder', async () => {
    const missing = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out', '--lock', 'nope.lock.json'], {
      cwd: dir,
      env,
    });
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /cannot read the lock file nope\.lock\.json: there is no such file/);
    assert.match(
      missing.stderr,
      /hint: write it first \(provenant lock image\.yaml -o nope\.lock\.json\), or leave out --lock to resolve the packages/,
    );
    const folder = await runCli(['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:out', '--lock', 'repo'], {
      cwd: dir,
      env,
    });
    assert.equal(folder.status, 2, folder.stderr);
    assert.match(folder.stderr, /cannot read the lock file repo: it is a folder/);
  });

  it('names the lock entry of a locked package that is no longer where the lock says', async () => {
    await lock('-o', 'gone.lock.json');
    const text = await readFile(join(dir, 'gone.lock.json'), 'utf8');
    await writeFile(join(dir, 'gone.lock.json'), text.replaceAll('/old-1.0-r0.apk', '/old-9.9-r0.apk'));
    const r = await runCli(['build', 'image.yaml', '--cache-dir', 'fresh-gone-cache', '-q', '-o', 'oci:out', '--lock', 'gone.lock.json'], {
      cwd: dir,
      env,
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /gone\.lock\.json contents\.packages\[\d+\] \(old 1\.0-r0, \w+\): .*old-9\.9-r0\.apk does not exist/);
  });

  it('keeps a lock of other architectures too from being written over with --arch, unless --drop-archs', async () => {
    await lock('-o', 'archs.lock.json');
    const before = await readFile(join(dir, 'archs.lock.json'), 'utf8');
    const r = await runCli(['lock', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'archs.lock.json', '--arch', 'aarch64'], {
      cwd: dir,
      env,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /archs\.lock\.json holds packages for x86_64 too, which this lock of aarch64 alone would drop; it is left as it was/,
    );
    assert.match(r.stderr, /--arch aarch64 --arch x86_64.*--drop-archs/);
    assert.equal(await readFile(join(dir, 'archs.lock.json'), 'utf8'), before);
    // Locking every architecture it holds is no drop; --drop-archs writes aarch64's alone.
    await lock('-o', 'archs.lock.json', '--arch', 'aarch64', '--arch', 'x86_64');
    const dropped = await lock('-o', 'archs.lock.json', '--arch', 'aarch64', '--drop-archs');
    assert.match(dropped.stderr, /x86_64: \d+ removed/);
    const written = JSON.parse(await readFile(join(dir, 'archs.lock.json'), 'utf8')) as {
      contents: { packages: { architecture: string }[] };
    };
    assert.deepEqual([...new Set(written.contents.packages.map((p) => p.architecture))], ['aarch64']);
  });

  it('compares the architectures of the lock it replaces as --arch takes them, before resolving, and hints in that spelling', async () => {
    await lock('-o', 'spelled.lock.json');
    const text = await readFile(join(dir, 'spelled.lock.json'), 'utf8');
    // apko spells x86_64 amd64: the same architecture, so relocking both drops nothing.
    await writeFile(join(dir, 'spelled.lock.json'), text.replaceAll('"architecture": "x86_64"', '"architecture": "amd64"'));
    await lock('-o', 'spelled.lock.json', '--arch', 'x86_64', '--arch', 'aarch64');
    // A configuration whose repository is gone: a refusal that comes before resolving says only that.
    const config = await readFile(join(dir, 'image.yaml'), 'utf8');
    await writeFile(join(dir, 'gone.yaml'), config.replace('repositories: [./repo]', 'repositories: [./no-such-repo]'));
    assert.notEqual(await readFile(join(dir, 'gone.yaml'), 'utf8'), config);
    const relock = (file: string, ...args: string[]) =>
      runCli(['lock', 'gone.yaml', '--cache-dir', 'cache', '-q', '-o', file, ...args], { cwd: dir, env });
    await writeFile(join(dir, 'spelled.lock.json'), text.replaceAll('"architecture": "x86_64"', '"architecture": "amd64"'));
    const r = await relock('spelled.lock.json', '--arch', 'aarch64');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /spelled\.lock\.json holds packages for x86_64 too, which this lock of aarch64 alone would drop/);
    assert.match(r.stderr, /--arch aarch64 --arch x86_64[ ,]/);
    // A Debian lock's names are Debian's: armel is what --arch armhf (apk's, arm/v6) locks, armhf --arch armv7.
    const deb = JSON.parse(text) as { contents: { packages: { architecture: string; url: string }[] } };
    deb.contents.packages = deb.contents.packages.map((p, i) => ({
      ...p,
      architecture: ['armel', 'armhf', 'amd64'][i % 3] as string,
      url: p.url.replace(/\.apk$/, '.deb'),
    }));
    await writeFile(join(dir, 'deb.lock.json'), JSON.stringify(deb));
    const d = await relock('deb.lock.json', '--arch', 'x86_64');
    assert.equal(d.status, 2, d.stderr);
    assert.match(d.stderr, /holds packages for armhf, armv7 too/);
    assert.match(d.stderr, /--arch armhf --arch armv7 --arch x86_64[ ,]/);
  });

  it('keeps build --write-lock --arch from writing a lock of other architectures too over without them', async () => {
    await lock('-o', 'built.lock.json');
    const before = await readFile(join(dir, 'built.lock.json'), 'utf8');
    const args = ['build', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'oci:built-out', '--write-lock', 'built.lock.json'];
    const r = await runCli([...args, '--arch', 'aarch64'], { cwd: dir, env });
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /built\.lock\.json holds packages for x86_64 too, which this lock of aarch64 alone would drop; it is left as it was/,
    );
    assert.match(r.stderr, /--write-lock built\.lock\.json --arch aarch64 --arch x86_64/);
    assert.equal(await readFile(join(dir, 'built.lock.json'), 'utf8'), before);
    // Every architecture it holds, in any spelling, passes the check (this image's packages then clash, later).
    const all = await runCli([...args, '--arch', 'amd64', '--arch', 'aarch64'], { cwd: dir, env });
    assert.doesNotMatch(all.stderr, /holds packages for/);
    assert.match(all.stderr, /both install/);
  });
});

describe('build --lock from a local repository', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-lock-local-'));
    await makeApkProject(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("builds from a lock of the configuration's local repository, and refuses one naming the same file by another path", async () => {
    await cliOk(['lock', 'image.yaml', '--cache-dir', 'cache', '-q', '-o', 'local.lock.json'], { cwd: dir, env });
    const built = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'local-cache', '-q', '-o', 'oci:local-out', '--lock', 'local.lock.json'],
      {
        cwd: dir,
        env,
      },
    );
    assert.equal(built.status, 0, built.stderr);
    const text = await readFile(join(dir, 'local.lock.json'), 'utf8');
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(elsewhere, { recursive: true });
    await writeFile(join(elsewhere, 'hello-1.0-r0.apk'), await readFile(join(dir, 'repo/x86_64/hello-1.0-r0.apk')));
    await writeFile(join(dir, 'local.lock.json'), text.replace('./repo/x86_64/hello-1.0-r0.apk', join(elsewhere, 'hello-1.0-r0.apk')));
    const r = await runCli(
      ['build', 'image.yaml', '--cache-dir', 'local-cache2', '-q', '-o', 'oci:local-out2', '--lock', 'local.lock.json'],
      {
        cwd: dir,
        env,
      },
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /local\.lock\.json contents\.packages\[\d+\] \(hello 1\.0-r0, x86_64\): its url \S+elsewhere\/hello-1\.0-r0\.apk is in none of the repositories image\.yaml reads for x86_64/,
    );
  });
});

describe('provenant lock and build --lock over Debian bookworm', { skip: debianMissing }, () => {
  let dir: string;
  const lock = () => cliOk(['lock', 'image.yaml', '--cache-dir', debianCacheDir, '-q'], { cwd: dir });
  const lockPath = () => join(dir, 'image.lock.json');
  /** The lock file with `edit` applied to its dash entry. */
  const editDash = async (edit: (entry: Record<string, unknown>) => void) => {
    const l = JSON.parse(await readFile(lockPath(), 'utf8')) as { contents: { packages: Record<string, unknown>[] } };
    const dash = l.contents.packages.find((p) => p.name === 'dash');
    assert.ok(dash);
    edit(dash);
    await writeFile(lockPath(), `${JSON.stringify(l, null, 2)}\n`);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-lock-debian-'));
    await writeFile(
      join(dir, 'image.yaml'),
      `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n  packages: [dash]\narchs: [x86_64]\n`,
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('tells a version change against the lock it replaces, and nothing when it is the same', async () => {
    assert.equal((await lock()).stderr, '');
    assert.equal((await lock()).stderr, 'image.lock.json: unchanged\n');
    let locked = '';
    await editDash((dash) => {
      locked = dash.version as string;
      dash.version = '0.5.11+git20210903+057cd650a4ed-1';
    });
    assert.equal(
      (await lock()).stderr,
      `image.lock.json: changes against the lock it replaces\n  amd64: 1 changed\n    ~ dash 0.5.11+git20210903+057cd650a4ed-1 -> ${locked}\n`,
    );
  });

  it('names the lock file when build --lock finds its entries under an architecture the repositories spell otherwise', async () => {
    await lock();
    // apk's spelling of amd64 on every entry, as an apk lock (or an edit) would have it.
    const l = JSON.parse(await readFile(lockPath(), 'utf8')) as { contents: { packages: { architecture: string }[] } };
    for (const p of l.contents.packages) p.architecture = 'x86_64';
    await writeFile(lockPath(), `${JSON.stringify(l, null, 2)}\n`);
    const r = await runCli(['build', 'image.yaml', '--lock', 'image.lock.json', '--cache-dir', debianCacheDir, '-o', 'oci:out', '-q'], {
      cwd: dir,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /image\.lock\.json contents\.packages has no packages for amd64 \(x86_64\): its entries' architecture is only x86_64/,
    );
    assert.match(r.stderr, /its entries name x86_64, which these repositories spell amd64/);
  });
});
