// What `provenant apk` says about files it cannot use: one line naming the file the user gave,
// no stack, and the exit code other commands give for the same fault.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { cliOk, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

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
