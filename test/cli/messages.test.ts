// What the CLI says, through its entry point, for each case of issue 15: the message (subject,
// problem, place once, what to do) and the exit code; names printed that work as input; the
// conventions (--format json on every command that reports, -o on those that write).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LIBDEFLATE_WASM_SHA256 } from '../../src/archive/libdeflate.ts';
import { cliOk, makeApkProject, ROOT, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const example = `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`;
const tempDir = useTempDir('messages');

/** One line, then at most a hint line; no stack, no parser's own wording. */
function assertMessage(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', pattern, stderr);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]!.startsWith('  hint: ')), stderr);
  assert.doesNotMatch(stderr, /\n\s+at |internal error|To specify a positional|ERR_/, stderr);
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('messages and exit codes', () => {
  it('an unknown flag: the flag as written, the closest one, no parser text; exit 2', async () => {
    const r = await runCli(['copy', '--platfrom', 'linux/amd64', example, 'oci:/tmp/x']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant copy: unknown flag --platfrom: did you mean --platform\?$/);
    assert.match(r.stderr, /hint: provenant help copy lists its flags/);
    const missing = await runCli(['inspect', example, '--format']);
    assert.equal(missing.status, 2);
    assertMessage(missing.stderr, /^provenant inspect: --format needs a value$/);
    const valued = await runCli(['copy', '--quiet=yes', example, 'oci:/tmp/x']);
    assert.equal(valued.status, 2);
    assertMessage(valued.stderr, /^provenant copy: --quiet is a switch and takes no value/);
  });

  it('a --builder-id that is no URI, before anything is built; exit 2', async () => {
    const r = await runCli(['build', join(ROOT, 'examples', 'busybox', 'image.yaml'), '-o', 'oci:/tmp/never', '--builder-id', 'my laptop']);
    assert.equal(r.status, 2, r.stderr);
    assertMessage(r.stderr, /^provenant build: --builder-id must be a URI, not "my laptop"$/);
    assert.doesNotMatch(r.stderr, /resolving|fetching/);
  });

  it('help for a subcommand, and for what does not exist (exit 2, with a did-you-mean)', async () => {
    const keygen = await cliOk(['help', 'apk', 'keygen']);
    assert.match(keygen.stdout, /^make an RSA key pair/);
    assert.match(keygen.stdout, /Usage: provenant apk keygen \[--name NAME\] \[-o DIR\]/);
    assert.match(keygen.stdout, /--name/);
    assert.doesNotMatch(keygen.stdout, /--depends|see provenant help apk/);
    assert.equal((await cliOk(['apk', 'keygen', '--help'])).stdout, keygen.stdout);
    let r = await runCli(['help', 'nosuch']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assertMessage(r.stderr, /^provenant help: unknown command "nosuch"$/);
    r = await runCli(['help', 'insepct']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant help: unknown command "insepct": did you mean inspect\?$/);
    r = await runCli(['help', 'apk', 'keygne']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant help: apk has no subcommand "keygne": did you mean apk keygen\?$/);
    r = await runCli(['apk', 'nosuch']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant apk: apk has no subcommand "nosuch"$/);
    // No command ran: the program itself says so, not `provenant help`.
    r = await runCli(['frobnicate']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant: unknown command "frobnicate"$/);
    r = await runCli(['buidl', 'image.yaml']);
    assert.equal(r.status, 2);
    assertMessage(r.stderr, /^provenant: unknown command "buidl": did you mean build\?$/);
  });

  it('arguments to a command that takes none are USAGE (exit 2)', async () => {
    for (const command of ['version', 'env']) {
      const r = await runCli([command, 'extra']);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stdout, '');
      assertMessage(r.stderr, new RegExp(`^provenant ${command}: takes no arguments, got "extra"$`));
    }
  });

  it('apk index of a package that does not exist: NOT_FOUND, exit 3, no stack', async () => {
    const r = await runCli(['apk', 'index', 'missing.apk', '-o', 'never/APKINDEX.tar.gz'], { cwd: await tempDir() });
    assert.equal(r.status, 3, r.stderr);
    assertMessage(r.stderr, /^provenant apk: the package missing\.apk does not exist$/);
  });

  it('apk keygen refuses to replace a key pair without --force (exit 2), as generate-key-pair does', async () => {
    const dir = await tempDir();
    await cliOk(['apk', 'keygen', '--name', 'repo.rsa', '-o', 'keys'], { cwd: dir });
    const before = await readFile(join(dir, 'keys', 'repo.rsa'), 'utf8');
    const again = await runCli(['apk', 'keygen', '--name', 'repo.rsa', '-o', 'keys'], { cwd: dir });
    assert.equal(again.status, 2, again.stderr);
    assertMessage(again.stderr, /^provenant apk: keys\/repo\.rsa exists; a new key pair would replace it$/);
    assert.match(again.stderr, /hint: pass --force/);
    assert.equal(await readFile(join(dir, 'keys', 'repo.rsa'), 'utf8'), before, 'the key is as it was');
    await cliOk(['apk', 'keygen', '--name', 'repo.rsa', '-o', 'keys', '--force'], { cwd: dir });
    assert.notEqual(await readFile(join(dir, 'keys', 'repo.rsa'), 'utf8'), before);
  });

  describe('building from a local repository', () => {
    let dir: string;
    before(async () => {
      dir = await tempDir();
      await makeApkProject(dir);
    });
    const build = (args: string[]) => runCli(['build', '--quiet', '--cache-dir', 'cache', ...args], { cwd: dir });

    it('a missing file is named once, not twice', async () => {
      await writeFile(
        join(dir, 'nokey.yaml'),
        'contents:\n  repositories: [./repo]\n  keyring: [./keys/none.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n',
      );
      const r = await build(['nokey.yaml']);
      assert.equal(r.status, 3);
      assertMessage(r.stderr, /^provenant build: nokey\.yaml:3:13: contents\.keyring\[0\]: \S*keys\/none\.rsa\.pub does not exist$/);
      assert.match(
        r.stderr,
        /hint: a relative path is relative to the folder of the file that writes it; write the path of the public key file/,
      );
      assert.equal(r.stderr.split('none.rsa.pub').length, 2, r.stderr);
    });

    it('an architecture the repository has no index for: the repository and the architecture are named, and what chose it', async () => {
      await writeFile(
        join(dir, 'riscv.yaml'),
        'contents:\n  repositories: [./repo]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64, riscv64]\n',
      );
      const r = await build(['riscv.yaml']);
      assert.equal(r.status, 3);
      assertMessage(
        r.stderr,
        /^provenant build: the repository \.\/repo has no index for riscv64: \S+\/repo\/riscv64\/APKINDEX\.tar\.gz does not exist \(riscv\.yaml\)$/,
      );
      assert.match(
        r.stderr,
        /\n {2}hint: the configuration's archs choose the architectures built, and --platform or --arch a part of them: build for those the repository has, or check its location\n$/,
      );
      // The one it has still builds, chosen with --platform.
      const one = await build(['riscv.yaml', '--platform', 'linux/amd64', '-o', 'oci:riscv-one']);
      assert.equal(one.status, 0, one.stderr);
    });

    it('an unsigned index: the subject first, and how to sign it (no option that does not exist)', async () => {
      await cliOk(
        ['apk', 'index', 'repo/x86_64/hello-1.0-r0.apk', '--keyring', 'keys/test.rsa.pub', '-o', 'unsigned/x86_64/APKINDEX.tar.gz'],
        {
          cwd: dir,
        },
      );
      await cliOk(
        ['apk', 'build', 'content', '--name', 'hello', '--version', '1.0-r0', '--arch', 'x86_64', '-o', 'unsigned/x86_64/hello-1.0-r0.apk'],
        {
          cwd: dir,
        },
      );
      await writeFile(
        join(dir, 'unsigned.yaml'),
        'contents:\n  repositories: [./unsigned]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n',
      );
      const r = await build(['unsigned.yaml']);
      assert.equal(r.status, 5);
      assertMessage(
        r.stderr,
        /^provenant build: \S*unsigned\/x86_64\/APKINDEX\.tar\.gz is not signed, and Provenant installs nothing unsigned$/,
      );
      assert.match(r.stderr, /hint: sign .*provenant apk index --key KEY\.rsa/);
      assert.doesNotMatch(r.stderr, /explicitly/);
    });

    it('a package nothing provides is not found, named at its line: exit 3', async () => {
      await writeFile(
        join(dir, 'nosuch.yaml'),
        'contents:\n  repositories: [./repo]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello, nosuch]\narchs: [x86_64]\n',
      );
      const r = await build(['nosuch.yaml']);
      assert.equal(r.status, 3);
      assertMessage(
        r.stderr,
        /^provenant build: nothing provides nosuch, which contents\.packages asks for \(nosuch\.yaml:4:21 \(x86_64\)\)$/,
      );
    });

    it('an unreachable HTTP repository names the cause; a port out of range is the configuration (exit 2)', async () => {
      const port = await closedPort();
      await writeFile(
        join(dir, 'http.yaml'),
        `contents:\n  repositories: [http://127.0.0.1:${port}/alpine]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n`,
      );
      let r = await build(['http.yaml']);
      assert.equal(r.status, 6);
      assertMessage(
        r.stderr,
        new RegExp(
          `^provenant build: cannot fetch http://127\\.0\\.0\\.1:${port}/alpine/x86_64/APKINDEX\\.tar\\.gz: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`,
        ),
      );
      assert.doesNotMatch(r.stderr, /fetch failed/);
      await writeFile(
        join(dir, 'port.yaml'),
        'contents:\n  repositories: [http://127.0.0.1:99999/alpine]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64]\n',
      );
      r = await build(['port.yaml']);
      assert.equal(r.status, 2);
      assertMessage(r.stderr, /^provenant build: the repository URL "http:\/\/127\.0\.0\.1:99999\/alpine" is malformed \(port\.yaml\)$/);
    });

    it('build takes --platform as buildx writes it, and refuses a multi-platform docker-archive before resolving', async () => {
      const r = await build(['image.yaml', '--platform', 'linux/amd64', '-o', 'oci:out:p', '--format', 'json']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        JSON.parse(r.stdout).images.map((i: { platform: string }) => i.platform),
        ['linux/amd64'],
      );
      // sbom's -o writes the file, and nothing to standard output.
      const sbom = await runCli(['sbom', 'oci:out:p', '-o', 'sbom.json'], { cwd: dir });
      assert.equal(sbom.status, 0, sbom.stderr);
      assert.equal(sbom.stdout, '');
      assert.equal(JSON.parse(await readFile(join(dir, 'sbom.json'), 'utf8')).spdxVersion, 'SPDX-2.3');
      const bad = await build(['image.yaml', '--platform', 'windows/amd64']);
      assert.equal(bad.status, 2);
      assertMessage(bad.stderr, /^provenant build: --platform windows\/amd64 is not a linux\/ARCH\[\/VARIANT\] platform$/);
      // The repository cannot be reached: resolving would fail with exit 6, so exit 2 shows nothing was resolved.
      const port = await closedPort();
      await writeFile(
        join(dir, 'two.yaml'),
        `contents:\n  repositories: [http://127.0.0.1:${port}/alpine]\n  keyring: [./keys/test.rsa.pub]\n  packages: [hello]\narchs: [x86_64, aarch64]\n`,
      );
      const two = await build(['two.yaml', '-o', 'docker-archive:two.tar']);
      assert.equal(two.status, 2);
      assertMessage(
        two.stderr,
        /^provenant build: a docker-archive holds one platform's image, and this build makes 2 \(x86_64, aarch64\) \(docker-archive:two\.tar\)$/,
      );
      assert.match(two.stderr, /hint: choose one with --platform/);
      const one = await build(['image.yaml', '-o', 'docker-archive:one.tar']);
      assert.equal(one.status, 0, one.stderr);
      assert.match(one.stdout, /^docker-archive:one\.tar sha256:/);
    });
  });

  it('an example built before its prepare.sh ran says to run it; after it (a copy, outside the checkout), the example builds on its own', async () => {
    const dir = await tempDir();
    for (const f of ['image.yaml', 'prepare.sh', 'busybox.yaml']) await copyFile(join(ROOT, 'examples', 'busybox', f), join(dir, f));
    const before = await runCli(['build', 'image.yaml', '--quiet'], { cwd: dir });
    assert.equal(before.status, 3);
    assertMessage(
      before.stderr,
      /^provenant build: image\.yaml:\d+:\d+: contents\.keyring\[0\]: \S+\/keys\/demo\.rsa\.pub does not exist$/,
    );
    assert.match(before.stderr, /hint: run bash prepare\.sh first: it makes the files this configuration reads/);
    if (!existsSync('/bin/busybox')) return; // Debian's busybox-static, which the example packages.
    // The copy finds no checkout above it: it runs the provenant on PATH.
    const bin = join(dir, 'bin-on-path');
    await mkdir(bin);
    await symlink(join(ROOT, 'bin', 'provenant'), join(bin, 'provenant'));
    await exec('bash', [join(dir, 'prepare.sh')], { env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
    const built = await runCli(['build', 'image.yaml', '--quiet', '--cache-dir', 'cache'], { cwd: dir });
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /^oci:image\.oci:latest@sha256:[0-9a-f]{64}\n/);
    // Another architecture than the configuration lists: the repository has none, and no prepare.sh would make it.
    const other = await runCli(
      ['build', 'image.yaml', '--quiet', '--cache-dir', 'cache', '--platform', 'linux/arm64', '-o', 'oci:arm.oci'],
      {
        cwd: dir,
      },
    );
    assert.equal(other.status, 3);
    assertMessage(
      other.stderr,
      /^provenant build: the repository \.\/repo has no index for aarch64: \S+\/repo\/aarch64\/APKINDEX\.tar\.gz does not exist \(image\.yaml\)$/,
    );
    assert.match(other.stderr, /hint: the build asked for aarch64, which the configuration does not list \(archs: x86_64\)/);
    assert.doesNotMatch(other.stderr, /prepare\.sh/);
  });

  it('inspect prints names that work as input, and says when a bare name is a local path', async () => {
    const dir = await tempDir();
    await cliOk(['copy', '-q', example, `oci:${dir}/image.oci:latest`]);
    const r = await cliOk(['inspect', 'oci:image.oci:latest'], { cwd: dir });
    const names = [...r.stdout.matchAll(/^ {2}Name: +(\S+)$/gm)].map((m) => m[1]!);
    assert.equal(names.length, 2, r.stdout);
    for (const name of names) {
      assert.match(name, /^oci:image\.oci@sha256:[0-9a-f]{64}$/);
      assert.equal((await cliOk(['digest', name], { cwd: dir })).stdout.trim(), name.split('@')[1]);
    }
    const bare = await runCli(['inspect', 'image.oci'], { cwd: dir });
    assert.equal(bare.status, 2);
    assertMessage(
      bare.stderr,
      /^provenant inspect: image\.oci is a local folder, but without a prefix "image\.oci" names an image on Docker Hub$/,
    );
    assert.match(bare.stderr, /hint: for the OCI layout there write oci:image\.oci;/);
  });

  it('says a path that is not there yet needs its oci: prefix, not that "." is no registry host', async () => {
    for (const path of ['./image.oci', '../out/image.oci', '/nowhere/image.oci']) {
      const r = await runCli(['copy', '-q', example, path]);
      assert.equal(r.status, 2, r.stderr);
      assertMessage(r.stderr, new RegExp(`^provenant copy: "${path.replace(/\./g, '\\.')}" is a path, and a location names its kind$`));
      assert.match(r.stderr, new RegExp(`hint: for an OCI layout folder write oci:${path.replace(/\./g, '\\.')};`));
    }
  });

  it('copy says when everything was already there, instead of counting nothing', async () => {
    const dir = await tempDir();
    await cliOk(['copy', '-q', example, `oci:${dir}/l:latest`]);
    const again = await cliOk(['copy', '-q', example, `oci:${dir}/l:latest`]);
    assert.match(
      again.stdout,
      /^oci:\S+\/l:latest sha256:[0-9a-f]{64}\n {2}already there with everything it references: nothing copied\n$/,
    );
  });

  it('env names every command a variable serves', async () => {
    const r = await cliOk(['env']);
    const format = r.stdout.split('\n').find((l) => l.startsWith('PROVENANT_FORMAT '));
    assert.ok(format !== undefined, r.stdout);
    for (const command of ['build', 'copy', 'inspect', 'tags', 'version']) assert.match(format, new RegExp(`\\b${command}\\b`));
    const json = JSON.parse((await cliOk(['env', '--format', 'json'])).stdout);
    assert.ok(json.flags.find((f: { name: string }) => f.name === 'PROVENANT_FORMAT').commands.includes('inspect'));
  });

  it('--format json: one JSON document and a final newline, from every command that reports', async () => {
    const dir = await tempDir();
    const runs = [
      ['tags', example],
      ['digest', example],
      ['inspect', example],
      ['version'],
      ['env'],
      ['copy', '-q', example, `oci:${dir}/j:latest`],
      ['gc', `oci:${dir}/j`],
      ['apk', 'keygen', '-o', join(dir, 'keys')],
    ];
    for (const args of runs) {
      const r = await cliOk([...args, '--format', 'json']);
      assert.ok(r.stdout.endsWith('}\n') || r.stdout.endsWith(']\n'), `${args[0]}: ${JSON.stringify(r.stdout.slice(-20))}`);
      JSON.parse(r.stdout);
    }
    assert.deepEqual(JSON.parse((await cliOk(['tags', '--format', 'json', example])).stdout), ['latest']);
  });

  it('version: the Node running it and the pinned compressor', async () => {
    const v = JSON.parse((await cliOk(['version', '--format', 'json'])).stdout);
    assert.equal(v.node, process.version);
    assert.equal(v.compressor.sha256, LIBDEFLATE_WASM_SHA256);
    assert.match((await cliOk(['--version'])).stdout, /^provenant \d+\.\d+\.\d+\nnode v\d+/);
  });

  it('-o on the commands that write data: manifest, completion (sbom above)', async () => {
    const dir = await tempDir();
    await cliOk(['manifest', example, '-o', join(dir, 'm.json')]);
    assert.equal(await readFile(join(dir, 'm.json'), 'utf8'), (await cliOk(['manifest', example])).stdout);
    await cliOk(['completion', 'bash', '-o', join(dir, 'provenant.bash')]);
    assert.match(await readFile(join(dir, 'provenant.bash'), 'utf8'), /complete -o filenames -F _provenant provenant/);
  });
});
