// What `provenant apk` says about files it cannot use: one line naming the file the user gave,
// no stack, and the exit code other commands give for the same fault.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, MAIN, runCli } from '../helpers/cli.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('apk-messages');

/** One line, then at most a hint line; no stack. */
function assertMessage(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', pattern, stderr);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]!.startsWith('  hint: ')), stderr);
  assert.doesNotMatch(stderr, /\n\s+at |internal error/, stderr);
}

describe('apk build: files it cannot use', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await cliOk(['apk', 'keygen', '--name', 'demo.rsa', '-o', 'keys'], { cwd: dir });
    await mkdir(join(dir, 'content'));
    await writeFile(join(dir, 'content', 'a.txt'), 'a\n');
  });

  it('a spec file that does not exist: NOT_FOUND, exit 3, one line', async () => {
    const r = await runCli(['apk', 'build', 'nope.yaml', '--key', 'keys/demo.rsa', '-o', 'x.apk'], { cwd: dir });
    assert.equal(r.status, 3, r.stderr);
    assertMessage(r.stderr, /^provenant apk: the spec nope\.yaml does not exist$/);
  });

  it('a key that is not a PEM private key, or not RSA: the file given is named, exit 2', async () => {
    await writeFile(
      join(dir, 'cosign.key'),
      '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n',
    );
    const folder = ['apk', 'build', 'content', '--name', 'a', '--version', '1-r0', '--arch', 'x86_64', '-o', 'a.apk'];
    const r = await runCli([...folder, '--key', 'cosign.key'], { cwd: dir });
    assert.equal(r.status, 2, r.stderr);
    assertMessage(r.stderr, /^provenant apk: the signing key cosign\.key is not a PEM private key$/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await writeFile(join(dir, 'ec.rsa'), ec);
    const r2 = await runCli([...folder, '--key', 'ec.rsa'], { cwd: dir });
    assert.equal(r2.status, 2, r2.stderr);
    assertMessage(r2.stderr, /^provenant apk: the signing key ec\.rsa is an ec key; apk signs with RSA$/);
  });
});

describe('apk: where its output cannot go', () => {
  it('a file where a folder is wanted, a name too long: IO, exit 1, one line naming it, nothing left behind', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'misc.apk'), 'not a folder\n');
    await writeFile(join(dir, 's.yaml'), 'name: a\nversion: 1-r0\narch: x86_64\nfiles:\n  - { path: etc/x, content: "x" }\n');
    const keygen = await runCli(['apk', 'keygen', '-o', 'misc.apk'], { cwd: dir });
    assert.equal(keygen.status, 1, keygen.stderr);
    assertMessage(keygen.stderr, /^provenant apk: misc\.apk is a file, not a folder; nothing was written$/);
    const under = await runCli(['apk', 'build', 's.yaml', '-o', 'misc.apk/x.apk'], { cwd: dir });
    assert.equal(under.status, 1, under.stderr);
    assertMessage(under.stderr, /^provenant apk: misc\.apk is a file, not a folder; nothing was written$/);
    const long = `${'a'.repeat(300)}.apk`;
    const tooLong = await runCli(['apk', 'build', 's.yaml', '-o', long], { cwd: dir });
    assert.equal(tooLong.status, 1, tooLong.stderr);
    assertMessage(tooLong.stderr, /^provenant apk: a{300}\.apk: the name is too long for the file system; nothing was written$/);
    // Past the file system's limit only with the temporary file's suffix.
    const nearly = `${'b'.repeat(246)}.apk`;
    const tmpTooLong = await runCli(['apk', 'build', 's.yaml', '-o', nearly], { cwd: dir });
    assert.equal(tmpTooLong.status, 1, tmpTooLong.stderr);
    assertMessage(tmpTooLong.stderr, /^provenant apk: b{246}\.apk: the name is too long for the file system; nothing was written$/);
    assert.deepEqual((await readdir(dir)).sort(), ['misc.apk', 's.yaml']);
  });
});

describe('apk: flags a subcommand does not read', () => {
  it('refuses them, naming the flag, instead of ignoring them; a PROVENANT_* variable is left alone', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 's.yaml'), 'name: a\nversion: 1-r0\narch: x86_64\n');
    const refused = async (argv: string[], message: RegExp, hint: RegExp) => {
      const r = await runCli(argv, { cwd: dir });
      assert.equal(r.status, 2, r.stderr);
      assertMessage(r.stderr, message);
      assert.match(r.stderr, hint);
    };
    await refused(
      ['apk', 'build', 's.yaml', '--description', 'NEW', '--name', 'other', '-o', 'a.apk'],
      /^provenant apk: apk build of a spec file does not take --(description|name)$/,
      /hint: write it in s\.yaml/,
    );
    await refused(['apk', 'build', 's.yaml', '--depends', 'zz'], /does not take --depends$/, /hint: write it in s\.yaml/);
    await refused(['apk', 'keygen', '--depends', 'x'], /^provenant apk: apk keygen does not take --depends$/, /--name, --output, --force/);
    await refused(['apk', 'index', '--name', 'z', 'x.apk'], /^provenant apk: apk index does not take --name$/, /--key, --description/);
    assert.deepEqual((await readdir(dir)).sort(), ['s.yaml']);
    // Typed over a variable that sets it too, it is still refused (a cold read: it was taken as the variable's).
    const over = await runCli(['apk', 'keygen', '--depends', 'y'], { cwd: dir, env: { PROVENANT_DEPENDS: 'x' } });
    assert.equal(over.status, 2, over.stderr);
    assertMessage(over.stderr, /^provenant apk: apk keygen does not take --depends$/);
    assert.deepEqual((await readdir(dir)).sort(), ['s.yaml']);
    const fromEnv = await runCli(['apk', 'build', 's.yaml', '-o', 'a.apk'], { cwd: dir, env: { PROVENANT_NAME: 'other' } });
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    // A list from a variable, read as the parser reads it (split at commas, trimmed): still the variable's.
    const list = await runCli(['apk', 'keygen', '-o', 'keys'], { cwd: dir, env: { PROVENANT_DEPENDS: 'x, y' } });
    assert.equal(list.status, 0, list.stderr);
  });
});

describe('apk index: a folder given for a package', () => {
  it('is a usage error naming it, with the command for its packages', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'repo', 'x86_64'), { recursive: true });
    const r = await runCli(['apk', 'index', 'repo/x86_64'], { cwd: dir });
    assert.equal(r.status, 2, r.stderr);
    assertMessage(r.stderr, /^provenant apk: the package repo\/x86_64 is a folder; apk index takes \.apk files$/);
    assert.match(r.stderr, /hint: name the packages: provenant apk index repo\/x86_64\/\*\.apk -o repo\/x86_64\/APKINDEX\.tar\.gz/);
  });
});

describe('apk: -o - is standard output', () => {
  /** The CLI's standard output as bytes (runCli reads it as text). */
  function runBytes(args: readonly string[], cwd: string, env: Record<string, string> = {}) {
    return spawnSync(process.execPath, [MAIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  it('build and index write the one file there, alone, and no file named -; keygen, two files, is refused', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'content'));
    await writeFile(join(dir, 'content', 'a.txt'), 'a\n');
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const build = ['apk', 'build', 'content', '--name', 'x', '--version', '1-r0', '--arch', 'x86_64'];
    const piped = runBytes([...build, '-o', '-'], dir, env);
    assert.equal(piped.status, 0, piped.stderr.toString());
    assert.equal(existsSync(join(dir, '-')), false);
    runBytes([...build, '-o', 'x.apk'], dir, env);
    assert.deepEqual(piped.stdout, await readFile(join(dir, 'x.apk')));

    // x.apk is unsigned: indexed as apk index --allow-untrusted does.
    const index = runBytes(['apk', 'index', 'x.apk', '--allow-untrusted', '-o', '-'], dir, env);
    assert.equal(index.status, 0, index.stderr.toString());
    assert.equal(existsSync(join(dir, '-')), false);
    runBytes(['apk', 'index', 'x.apk', '--allow-untrusted'], dir, env);
    assert.deepEqual(index.stdout, await readFile(join(dir, 'APKINDEX.tar.gz')));

    // A JSON report asked for too has no room there; PROVENANT_FORMAT, set for every command, is left alone.
    const json = await runCli([...build, '-o', '-', '--format', 'json'], { cwd: dir });
    assert.equal(json.status, 2, json.stderr);
    assertMessage(json.stderr, /^provenant apk: apk build -o - writes the \.apk to standard output, which cannot hold a JSON report too$/);
    const fromEnv = runBytes(['apk', 'index', 'x.apk', '--allow-untrusted', '-o', '-'], dir, { ...env, PROVENANT_FORMAT: 'json' });
    assert.deepEqual(fromEnv.stdout, index.stdout);

    const keygen = await runCli(['apk', 'keygen', '-o', '-'], { cwd: dir });
    assert.equal(keygen.status, 2, keygen.stderr);
    assertMessage(keygen.stderr, /^provenant apk: apk keygen writes two files, which standard output \(-o -\) cannot hold$/);
    assert.equal(existsSync(join(dir, '-')), false);
  });
});

describe('apk index: packages no trusted key signed', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
    await cliOk(['apk', 'keygen', '--name', 'repo.rsa', '-o', 'keys'], { cwd: dir });
    await cliOk(['apk', 'keygen', '--name', 'other.rsa', '-o', 'other'], { cwd: dir });
    // A key of another owner under the repository key's name: its signatures name repo.rsa.pub
    // and do not verify with it, as a package changed after signing.
    await mkdir(join(dir, 'forged'));
    await writeFile(join(dir, 'forged', 'repo.rsa'), await readFile(join(dir, 'other', 'other.rsa')));
    await mkdir(join(dir, 'content'));
    await writeFile(join(dir, 'content', 'a.txt'), 'a\n');
    const build = (name: string, key: string[]) =>
      cliOk(['apk', 'build', 'content', '--name', name, '--version', '1-r0', '--arch', 'noarch', ...key, '-o', `${name}.apk`], {
        cwd: dir,
      });
    await build('good', ['--key', 'keys/repo.rsa']);
    await build('theirs', ['--key', 'other/other.rsa']);
    await build('unsigned', []);
    await build('bad', ['--key', 'forged/repo.rsa']);
  });
  const index = (args: string[]) => runCli(['apk', 'index', ...args, '--key', 'keys/repo.rsa', '-o', 'APKINDEX.tar.gz'], { cwd: dir });

  it('indexes packages signed by the key the index is signed with, or by a --keyring key', async () => {
    assert.equal((await index(['good.apk'])).status, 0);
    const r = await index(['good.apk', 'theirs.apk', '--keyring', 'other/other.rsa.pub', '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).packages, 2);
    // The signing key's public key listed again is the same key under its name.
    assert.equal((await index(['good.apk', '--keyring', 'keys/repo.rsa.pub'])).status, 0);
    // So it is in another text: CRLF line endings (the key is compared, not its text).
    await mkdir(join(dir, 'crlf'), { recursive: true });
    await writeFile(join(dir, 'crlf', 'repo.rsa.pub'), (await readFile(join(dir, 'keys', 'repo.rsa.pub'), 'utf8')).replace(/\n/g, '\r\n'));
    const crlf = await index(['good.apk', '--keyring', 'crlf/repo.rsa.pub']);
    assert.equal(crlf.status, 0, crlf.stderr);
  });

  it('refuses one no trusted key signed, naming it, unless --allow-untrusted', async () => {
    for (const [apk, by] of [
      ['theirs.apk', /signed by other\.rsa\.pub, which is not a trusted key/],
      ['unsigned.apk', /not signed/],
    ] as const) {
      await rm(join(dir, 'APKINDEX.tar.gz'), { force: true });
      const r = await index(['good.apk', apk]);
      assert.equal(r.status, 5, r.stderr);
      assertMessage(
        r.stderr,
        new RegExp(
          `^provenant apk: ${apk.replace('.', '\\.')} is ${by.source}: an index vouches for every package it lists, so it lists only packages a trusted key signed$`,
        ),
      );
      assert.match(
        r.stderr,
        /hint: trust the key that signs it with --keyring KEY\.rsa\.pub .*trusted now: repo\.rsa\.pub\), or index it anyway with --allow-untrusted/,
      );
      assert.equal(existsSync(join(dir, 'APKINDEX.tar.gz')), false);
      const allowed = await index(['good.apk', apk, '--allow-untrusted']);
      assert.equal(allowed.status, 0, allowed.stderr);
    }
    // Without --key or --keyring, nothing is trusted.
    const none = await runCli(['apk', 'index', 'good.apk', '-o', '-'], { cwd: dir });
    assert.equal(none.status, 5, none.stderr);
    assert.match(none.stderr, /good\.apk is signed by repo\.rsa\.pub, which is not a trusted key/);
  });

  it('never indexes a package whose signature by a trusted key does not verify, --allow-untrusted or not', async () => {
    for (const extra of [[], ['--allow-untrusted']]) {
      await rm(join(dir, 'APKINDEX.tar.gz'), { force: true });
      const r = await index(['good.apk', 'bad.apk', ...extra]);
      assert.equal(r.status, 5, r.stderr);
      assertMessage(r.stderr, /^provenant apk: the RSA256 signature by repo\.rsa\.pub does not verify \(bad\.apk\)$/);
      assert.equal(existsSync(join(dir, 'APKINDEX.tar.gz')), false);
    }
  });

  it("refuses a --keyring key apk cannot read, or another key under the signing key's name", async () => {
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'pkcs1', format: 'pem' });
    await writeFile(join(dir, 'pkcs1.rsa.pub'), pkcs1);
    const r = await index(['good.apk', '--keyring', 'pkcs1.rsa.pub']);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /PKCS#1 RSA PUBLIC KEY/);
    await mkdir(join(dir, 'elsewhere'), { recursive: true });
    await writeFile(join(dir, 'elsewhere', 'repo.rsa.pub'), await readFile(join(dir, 'other', 'other.rsa.pub')));
    const twice = await index(['good.apk', '--keyring', 'elsewhere/repo.rsa.pub']);
    assert.equal(twice.status, 5, twice.stderr);
    assert.match(
      twice.stderr,
      /two different keys named "repo\.rsa\.pub": elsewhere\/repo\.rsa\.pub and the public key of keys\/repo\.rsa/,
    );
  });
});
