// The signing commands end to end: generate-key-pair, public-key, sign, verify on layouts and a
// real registry, the key password from the environment and from a terminal prompt, tampering
// seen through the CLI, inspect naming the signer, and copy --platform warning about signatures.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RE2JS } from '@bufbuild/re2';
import { unsignedAttestationsOf, verificationFailure } from '../../src/cli/signing.ts';
import { ProvenantError } from '../../src/errors.ts';
import { cosignTag, encodeJson, parseStored } from '../../src/oci/content.ts';
import type { ImageIndex } from '../../src/oci/types.ts';
import { encryptPrivateKey } from '../../src/sign/keys.ts';
import { findSignatures } from '../../src/sign/storage.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { exampleWorkspace, useRegistryWithExample } from '../helpers/example.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { toolMissing } from '../helpers/images.ts';
import { registryMissing } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { MOCK_ISSUER, type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import { startStatusServer } from '../sign/status-server.ts';
import { exampleDir, provenant, provenantOnTerminal } from './provenant.ts';

const tempDir = useTempDir('cli-sign');
const PASSWORD = 'correct horse battery staple';

/** A folder with a key pair (`cosign.key`, `cosign.pub`), another (`other.*`), and the example image as `layout`. */
async function workspace(): Promise<string> {
  return exampleWorkspace(await tempDir(), { password: PASSWORD, keys: ['cosign', 'other'] });
}

describe('generate-key-pair and public-key', () => {
  it('writes NAME.key (0600, encrypted) and NAME.pub, refuses to overwrite without --force, and public-key prints the .pub', async () => {
    const dir = await tempDir();
    const env = { PROVENANT_KEY_PASSWORD: PASSWORD };
    const r = await provenant(['generate-key-pair', '--output-key-prefix', 'release'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^key id [A-Za-z0-9+/]{43}=\n$/);
    const key = await readFile(join(dir, 'release.key'), 'utf8');
    assert.match(key, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    assert.equal((await stat(join(dir, 'release.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(dir, 'release.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);

    const again = await provenant(['generate-key-pair', '--output-key-prefix', 'release'], { cwd: dir, env });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /release\.key exists.*\n.*--force/);
    assert.equal(await readFile(join(dir, 'release.key'), 'utf8'), key, 'the refused run left the key as it was');
    const forced = await provenant(['generate-key-pair', '--output-key-prefix', 'release', '--force'], { cwd: dir, env });
    assert.equal(forced.status, 0, forced.stderr);
    assert.notEqual(await readFile(join(dir, 'release.key'), 'utf8'), key);

    const pub = await provenant(['public-key', '--key', 'release.key'], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    assert.equal(pub.status, 0, pub.stderr);
    assert.equal(pub.stdout, await readFile(join(dir, 'release.pub'), 'utf8'));
    const toFile = await provenant(['public-key', '--key', 'release.key', '-o', 'copy.pub'], { cwd: dir, env });
    assert.equal(toFile.status, 0, toFile.stderr);
    assert.equal(await readFile(join(dir, 'copy.pub'), 'utf8'), pub.stdout);
  });

  it('public-key -o refuses an existing file without --force, and the private key itself always, before the password', async () => {
    const dir = await tempDir();
    const env = { COSIGN_PASSWORD: PASSWORD };
    assert.equal((await provenant(['generate-key-pair', '--output-key-prefix', 'k'], { cwd: dir, env })).status, 0);
    const key = await readFile(join(dir, 'k.key'), 'utf8');
    await writeFile(join(dir, 'old.pub'), 'the old file');
    // No password variable and no terminal: these are refused before any question.
    const kept = await provenant(['public-key', '--key', 'k.key', '-o', 'old.pub'], { cwd: dir });
    assert.equal(kept.status, 2, kept.stderr);
    assert.match(kept.stderr, /old\.pub exists; the public key would replace it\n.*--force/);
    assert.equal(await readFile(join(dir, 'old.pub'), 'utf8'), 'the old file');
    for (const extra of [[], ['--force']]) {
      for (const target of ['k.key', './k.key', join(dir, 'k.key')]) {
        const self = await provenant(['public-key', '--key', 'k.key', '-o', target, ...extra], { cwd: dir, env });
        assert.equal(self.status, 2, self.stderr);
        assert.match(self.stderr, /is the private key --key reads/);
      }
    }
    assert.equal(await readFile(join(dir, 'k.key'), 'utf8'), key, 'the private key is as it was');
    const forced = await provenant(['public-key', '--key', 'k.key', '-o', 'old.pub', '--force'], { cwd: dir, env });
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(await readFile(join(dir, 'old.pub'), 'utf8'), await readFile(join(dir, 'k.pub'), 'utf8'));
  });

  it('--force over a folder fails before the password is asked, and leaves the old key as it was', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'k3.key'), 'the old key');
    await mkdir(join(dir, 'k3.pub'));
    // Without a password in the environment, and no terminal, only a check before the prompt answers.
    for (const env of [{}, { COSIGN_PASSWORD: PASSWORD }]) {
      const r = await provenant(['generate-key-pair', '--output-key-prefix', 'k3', '--force'], { cwd: dir, env });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /k3\.pub is a folder; nothing was written/);
      assert.equal(await readFile(join(dir, 'k3.key'), 'utf8'), 'the old key');
      assert.deepEqual((await readdir(dir)).sort(), ['k3.key', 'k3.pub']);
    }
  });

  it('sign with a key cosign import-key-pair keeps (RSA, P-384, Ed25519): refused, naming the file and the key type', async () => {
    const dir = await tempDir();
    const keys = {
      'rsa.key': [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, /an RSA private key \(2048 bits\)/],
      'p384.key': [generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey, /an ECDSA P-384 private key/],
      'ed.key': [generateKeyPairSync('ed25519').privateKey, /an Ed25519 private key/],
    } as const;
    const image = `oci:${join(import.meta.dirname, '..', '..', 'examples', 'hello-oci')}:latest`;
    for (const [file, [key, type]] of Object.entries(keys)) {
      await writeFile(join(dir, file), await encryptPrivateKey(key, PASSWORD));
      const r = await provenant(['sign', '--key', file, image], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, type);
      assert.match(r.stderr, new RegExp(`signing takes ECDSA P-256 private keys only \\(${file.replace('.', '\\.')}\\)\n`));
    }
  });

  it('public-key reads and checks the key file before it asks for the password', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'pkcs8.key'),
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    // No password variable and no terminal: any question would fail with a usage error about it.
    const missing = await provenant(['public-key', '--key', 'nonexist.key'], { cwd: dir });
    assert.equal(missing.status, 3, missing.stderr);
    assert.match(missing.stderr, /^provenant public-key: the key file does not exist \(nonexist\.key\)\n/);
    const other = await provenant(['public-key', '--key', 'pkcs8.key'], { cwd: dir });
    assert.equal(other.status, 2, other.stderr);
    assert.match(other.stderr, /^provenant public-key: the key holds a "PRIVATE KEY" PEM block, not a cosign private key \(pkcs8\.key\)\n/);
    // sign --key reads the key the same way.
    const image = `oci:${join(import.meta.dirname, '..', '..', 'examples', 'hello-oci')}:latest`;
    const signMissing = await provenant(['sign', '--key', 'nonexist.key', image], { cwd: dir });
    assert.equal(signMissing.status, 3, signMissing.stderr);
    assert.match(signMissing.stderr, /the key file does not exist \(nonexist\.key\)\n/);
    const signOther = await provenant(['sign', '--key', 'pkcs8.key', image], { cwd: dir });
    assert.equal(signOther.status, 2, signOther.stderr);
    assert.match(signOther.stderr, /holds a "PRIVATE KEY" PEM block, not a cosign private key \(pkcs8\.key\)\n/);
  });

  it('--trusted-root and --key are read as any named file: a path through a file is not found (exit 3), a folder a usage error (exit 2)', async () => {
    const dir = await workspace();
    await writeFile(join(dir, 'afile'), 'x');
    await mkdir(join(dir, 'folder'));
    const image = 'oci:layout:latest';
    for (const command of ['verify', 'verify-attestation']) {
      const through = await provenant([command, image, '--trusted-root', 'afile/x.json', '--key', 'cosign.pub'], { cwd: dir });
      assert.equal(through.status, 3, through.stderr);
      assert.match(through.stderr, new RegExp(`^provenant ${command}: the trusted root file does not exist \\(afile/x\\.json\\)\n`));
      const folder = await provenant([command, image, '--trusted-root', 'folder', '--key', 'cosign.pub'], { cwd: dir });
      assert.equal(folder.status, 2, folder.stderr);
      assert.match(folder.stderr, /the trusted root file cannot be read: it is a folder \(folder\)\n/);
      // A folder as --key: said as read, without the hints about what a key file holds.
      const key = await provenant([command, image, '--key', 'folder'], { cwd: dir });
      assert.equal(key.status, 2, key.stderr);
      assert.match(key.stderr, /^provenant [a-z-]+: the key file cannot be read: it is a folder \(folder\)\n$/);
    }
  });

  it('without a password variable or a terminal: a usage error naming the variables; a wrong one: exit 4, never shown', async () => {
    const dir = await workspace();
    for (const args of [
      ['generate-key-pair', '--output-key-prefix', 'x'],
      ['public-key', '--key', 'cosign.key'],
      ['sign', '--key', 'cosign.key', 'oci:layout'],
    ]) {
      const r = await provenant(args, { cwd: dir });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /no terminal to ask it on\n.*COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD/);
    }
    const wrong = await provenant(['sign', '--key', 'cosign.key', 'oci:layout'], {
      cwd: dir,
      env: { COSIGN_PASSWORD: 'not-the-password' },
    });
    assert.equal(wrong.status, 4, wrong.stderr);
    assert.match(wrong.stderr, /the password does not decrypt the private key \(cosign\.key\)/);
    assert.doesNotMatch(wrong.stdout + wrong.stderr, /not-the-password/);
  });

  it('asks for the password on a terminal, without echo: twice for a new key, once to use it', {
    skip: toolMissing('python3'),
  }, async () => {
    const dir = await tempDir();
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
    const made = await provenantOnTerminal(
      ['generate-key-pair'],
      [
        ['Enter password for private key cosign.key:', PASSWORD],
        ['again:', PASSWORD],
      ],
      { cwd: dir },
    );
    assert.equal(made.status, 0, made.screen);
    assert.match(made.screen, /Enter password for private key cosign\.key: \r?\nEnter password for private key cosign\.key again: /);
    assert.doesNotMatch(made.screen, new RegExp(PASSWORD), 'the password is not echoed');
    // The key is encrypted with what was typed.
    const pub = await provenant(['public-key', '--key', 'cosign.key'], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    assert.equal(pub.status, 0, pub.stderr);
    assert.equal(pub.stdout, await readFile(join(dir, 'cosign.pub'), 'utf8'));

    const mismatch = await provenantOnTerminal(
      ['generate-key-pair', '--output-key-prefix', 'x'],
      [
        ['Enter password', 'one'],
        ['again:', 'two'],
      ],
      { cwd: dir },
    );
    assert.equal(mismatch.status, 2, mismatch.screen);
    assert.match(mismatch.screen, /the two passwords differ/);

    // Type-ahead: both answers typed at once, as one chunk, answer both prompts.
    const ahead = await provenantOnTerminal(
      ['generate-key-pair', '--output-key-prefix', 'ahead'],
      [
        ['Enter password for private key ahead.key:', `${PASSWORD}\r${PASSWORD}`],
        // Only an Enter for the second: typed ahead, it was answered already (an empty one would differ).
        ['again:', ''],
      ],
      { cwd: dir },
    );
    assert.equal(ahead.status, 0, ahead.screen);
    assert.doesNotMatch(ahead.screen, /no password was typed/);
    const aheadPub = await provenant(['public-key', '--key', 'ahead.key'], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
    assert.equal(aheadPub.status, 0, aheadPub.stderr);

    const signed = await provenantOnTerminal(['sign', '--key', 'cosign.key', 'oci:layout'], [['Enter password', PASSWORD]], { cwd: dir });
    assert.equal(signed.status, 0, signed.screen);
    assert.match(signed.screen, /signed oci:layout with key /);
    assert.doesNotMatch(signed.screen, new RegExp(PASSWORD));
  });
});

describe('attest --type custom', () => {
  it('wraps the file as cosign does: its text as Data, whatever it holds, and the time as Timestamp (SOURCE_DATE_EPOCH’s)', async () => {
    const dir = await workspace();
    const text = 'not JSON: <&> \u2028\n';
    await writeFile(join(dir, 'note.txt'), text);
    const env = { COSIGN_PASSWORD: PASSWORD, SOURCE_DATE_EPOCH: '1700000000' };
    // cosign wraps for this predicate type by its short name or its URI alike.
    for (const type of ['custom', 'https://cosign.sigstore.dev/attestation/v1']) {
      const r = await provenant(
        ['attest', 'oci:layout:latest', '--predicate', 'note.txt', '--type', type, '--key', 'cosign.key', '--attestations', 'cosign'],
        { cwd: dir, env },
      );
      assert.equal(r.status, 0, r.stderr);
    }
    const store = await LayoutStore.open(join(dir, 'layout'));
    const root = await store.getManifest('latest');
    const images = root.kind === 'index' ? root.index.manifests.map((m) => m.digest) : [root.digest];
    const predicates: unknown[] = [];
    for (const d of images) {
      for (const f of await findSignatures(store, d)) {
        if (f.format !== 'cosign-layer' || f.layer === undefined || f.kind !== 'attestation') continue;
        const envelope = JSON.parse(Buffer.from(f.layer.payload).toString('utf8')) as { payload: string };
        const st = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
        assert.equal(st.predicateType, 'https://cosign.sigstore.dev/attestation/v1');
        predicates.push(st.predicate);
      }
    }
    await store.close();
    // Both runs made the same statement (one layer per image): cosign's CosignPredicate with the
    // epoch in Go's time.RFC3339 (pkg/cosign/attestation/attestation.go:199-202).
    assert.deepEqual(
      predicates,
      images.map(() => ({ Data: text, Timestamp: '2023-11-14T22:13:20Z' })),
    );
  });
});

describe('unsigned attestations: counted, and a verification that finds none signed says so', () => {
  it('attest without --key or --sign: N unsigned attestations of the type, a hint to sign them; none of another type', async () => {
    const dir = await workspace();
    await writeFile(join(dir, 'p.json'), '{"builder":{"id":"x"}}');
    const r = await provenant(['attest', '--predicate', 'p.json', '--type', 'slsaprovenance', 'oci:layout:latest'], { cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /unsigned/);
    const signed = await provenant(
      ['attest', '--predicate', 'p.json', '--type', 'custom', '--key', 'cosign.key', '--attestations', 'referrers', 'oci:layout:latest'],
      { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } },
    );
    assert.equal(signed.status, 0, signed.stderr);
    const SLSA = 'https://slsa.dev/provenance/v0.2';
    const store = await LayoutStore.open(join(dir, 'layout'));
    try {
      const root = await store.getManifest('latest');
      assert.ok(root.kind === 'index');
      const image = root.index.manifests[0]?.digest ?? root.digest;
      const signal = new AbortController().signal;
      assert.equal((await unsignedAttestationsOf(store, image, SLSA, signal)).count, 1);
      assert.equal((await unsignedAttestationsOf(store, image, undefined, signal)).count, 1, 'the signed custom one is not counted');
      // Of another type: none counted, and the unsigned ones' types given (the signed one not among them).
      assert.deepEqual(await unsignedAttestationsOf(store, image, 'https://cosign.sigstore.dev/attestation/v1', signal), {
        count: 0,
        types: [],
        otherTypes: [SLSA],
      });
      assert.equal(
        (await unsignedAttestationsOf(store, root.digest, SLSA, signal)).count,
        1,
        'the index has its own, as cosign attests the digest REF names',
      );
      const report = { subject: image, kind: 'attestation' as const, checked: [], verified: [] };
      const e = verificationFailure('oci:layout:latest', report, { predicateType: SLSA, unsigned: 1 });
      assert.equal(e.code, 'SIGNATURE');
      assert.match(
        e.message,
        /has 1 unsigned https:\/\/slsa\.dev\/provenance\/v0\.2 attestation and no signed one: verify-attestation checks signed attestations only/,
      );
      assert.match(String(e.hint), /attest again with --key or --sign/);
      // A store that fails while counting counts none, so that the verification's own failure
      // is what is said; a cancel still ends it.
      const failing = (code: 'NETWORK' | 'ABORTED') =>
        new Proxy(store, {
          get(target, key, receiver) {
            if (key === 'referrers') return () => Promise.reject(new ProvenantError(code, 'the registry went away'));
            const v = Reflect.get(target, key, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
      assert.equal((await unsignedAttestationsOf(failing('NETWORK'), image, SLSA, signal)).count, 0);
      await assert.rejects(
        unsignedAttestationsOf(failing('ABORTED'), image, SLSA, signal),
        (e) => e instanceof ProvenantError && e.code === 'ABORTED',
      );
      // Without unsigned ones, the hint is still to attest it first.
      assert.match(String(verificationFailure('x', report, { predicateType: SLSA, unsigned: 0 }).hint), /attest it first/);
    } finally {
      await store.close();
    }
    // The command says it too: the platform image has one unsigned provenance, and no signed one.
    const p = (await provenant(['inspect', '--format', 'json', 'oci:layout:latest'], { cwd: dir })).stdout;
    const first = (JSON.parse(p) as { manifests: { platform: { os: string; architecture: string } }[] }).manifests[0]?.platform;
    assert.ok(first, p);
    const platform = `${first.os}/${first.architecture}`;
    const v = await provenant(
      ['verify-attestation', '--type', 'slsaprovenance', '--key', 'cosign.pub', '--platform', platform, 'oci:layout:latest'],
      {
        cwd: dir,
      },
    );
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, /has 1 unsigned https:\/\/slsa\.dev\/provenance\/v0\.2 attestation and no signed one/);
    assert.match(v.stderr, /attest again with --key or --sign/);
    // Another type: none of it, signed or not, and the usual hint.
    const other = await provenant(
      ['verify-attestation', '--type', 'spdxjson', '--key', 'cosign.pub', '--platform', platform, 'oci:layout:latest'],
      {
        cwd: dir,
      },
    );
    assert.equal(other.status, 5, other.stderr);
    assert.match(other.stderr, /has no https:\/\/spdx\.dev\/Document attestations/);
  });
});

describe('sign and verify a layout', () => {
  let dir: string;
  const env = { COSIGN_PASSWORD: PASSWORD };
  before(async () => {
    dir = await workspace();
  });

  it('signs the index in both storages; again adds nothing; verify lists what verified; another key fails with exit 5, one line per signature', async () => {
    const signed = await provenant(['sign', '--key', 'cosign.key', 'oci:layout:latest', '-a', 'team=blue'], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    assert.match(signed.stdout, /2 signature\(s\) added, 0 already there/);
    assert.match(signed.stdout, /cosign +signature +sha256-[0-9a-f]{64}\.sig/);
    const again = await provenant(['sign', '--key', 'cosign.key', 'oci:layout:latest', '-a', 'team=blue'], { cwd: dir, env });
    assert.match(again.stdout, /0 signature\(s\) added, 2 already there/);

    const ok = await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:latest'], { cwd: dir });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /oci:layout:latest \(sha256:[0-9a-f]{64}\): 2 of 2 signatures verified/);
    assert.match(ok.stdout, /ok +signature +cosign +sha256-[0-9a-f]{64}\.sig layer 0 +by key [A-Za-z0-9+/]{43}=/);
    assert.match(ok.stdout, /ok +signature +referrers referrer sha256:[0-9a-f]{64} +by key /);

    const json = await provenant(['verify', '--key', 'cosign.pub', '--format', 'json', 'oci:layout:latest'], { cwd: dir });
    assert.equal(json.status, 0, json.stderr);
    const doc = JSON.parse(json.stdout);
    assert.equal(doc.verified, true);
    assert.deepEqual(doc.checked.map((c: { storage: string; verified: boolean }) => [c.storage, c.verified]).sort(), [
      ['cosign', true],
      ['referrers', true],
    ]);
    const payload = doc.checked.find((c: { storage: string }) => c.storage === 'cosign').payload;
    assert.deepEqual(payload.optional, { team: 'blue' });
    // cosign 3's statement holds them as its subject's annotations, and the JSON shows them too.
    const statement = doc.checked.find((c: { storage: string }) => c.storage === 'referrers').statement;
    assert.deepEqual(statement.subjects[0].annotations, { team: 'blue' });

    const bad = await provenant(['verify', '--key', 'other.pub', 'oci:layout:latest'], { cwd: dir });
    assert.equal(bad.status, 5, bad.stderr);
    const lines = bad.stderr.split('\n');
    assert.match(lines[0]!, /^provenant verify: none of the 2 signatures of oci:layout:latest \(sha256:[0-9a-f]{64}\) verified:$/);
    assert.match(
      bad.stderr,
      /FAIL signature +cosign +sha256-[0-9a-f]{64}\.sig layer 0: signature: the signature does not verify with the given key/,
    );
    assert.match(
      bad.stderr,
      /FAIL signature +referrers referrer sha256:[0-9a-f]{64}: wrong-key: it was signed by key \S+, not by the given key/,
    );
    const badJson = await provenant(['verify', '--key', 'other.pub', '--format', 'json', 'oci:layout:latest'], { cwd: dir });
    assert.equal(badJson.status, 5);
    assert.deepEqual(
      JSON.parse(badJson.stdout)
        .checked.map((c: { reason: string }) => c.reason)
        .sort(),
      ['signature', 'wrong-key'],
    );
  });

  it('verify -a key=value: every annotation given must be in the signed payload, in both storages (cosign’s verify -a)', async () => {
    const layout = join(await tempDir(), 'annotated');
    await cp(exampleDir, layout, { recursive: true });
    const ref = `oci:${layout}:latest`;
    const signed = await provenant(['sign', '--key', 'cosign.key', ref, '-a', 'team=blue', '-a', 'tier=gold'], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    const verify = (...a: string[]) => provenant(['verify', '--key', 'cosign.pub', ...a, ref], { cwd: dir });
    const ok = await verify('-a', 'team=blue', '--annotations', 'tier=gold');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /2 of 2 signatures verified/);
    const one = await verify('-a', 'tier=gold');
    assert.equal(one.status, 0, one.stderr);
    const wrong = await verify('-a', 'team=blue', '-a', 'team2=red');
    assert.equal(wrong.status, 5, wrong.stderr);
    assert.match(
      wrong.stderr,
      /FAIL signature +cosign .*: annotations: the payload’s optional section does not carry the annotations asked: team2=red \(missing\)/,
    );
    assert.match(
      wrong.stderr,
      /FAIL signature +referrers .*: annotations: the statement’s subject does not carry the annotations asked: team2=red \(missing\)/,
    );
    const other = await verify('-a', 'team=red');
    assert.equal(other.status, 5, other.stderr);
    assert.match(other.stderr, /team=red \(it has "blue"\)/);
    const bad = await verify('-a', 'novalue');
    assert.equal(bad.status, 2, bad.stderr);
  });

  it('-a __proto__=x is an annotation like any other: sign writes it, verify requires it', async () => {
    const layout = join(await tempDir(), 'proto');
    await cp(exampleDir, layout, { recursive: true });
    const ref = `oci:${layout}:latest`;
    const signed = await provenant(['sign', '--key', 'cosign.key', ref, '-a', '__proto__=x'], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    const verify = (...a: string[]) => provenant(['verify', '--key', 'cosign.pub', ...a, ref], { cwd: dir });
    const ok = await verify('-a', '__proto__=x');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /2 of 2 signatures verified/);
    const other = await verify('-a', '__proto__=y');
    assert.equal(other.status, 5, other.stderr);
    assert.match(other.stderr, /__proto__=y \(it has "x"\)/);
  });

  it('--key takes a public key: a certificate or a private key is a usage error that points to the keyless flags', {
    skip: fixturesMissing,
  }, async () => {
    await cp(fixture('sig', 'derived-cimage-dir-img-cosign-fulcio-rekor-valid.cert.pem'), join(dir, 'leaf.pem'));
    const leaf = await provenant(['verify', '--key', 'leaf.pem', 'oci:layout:latest'], { cwd: dir });
    assert.equal(leaf.status, 2, leaf.stderr);
    assert.match(leaf.stderr, /a CERTIFICATE PEM block, not a public key \(PUBLIC KEY or RSA PUBLIC KEY\) \(leaf\.pem\)/);
    assert.match(leaf.stderr, /--certificate-identity\[-regexp\] and --certificate-oidc-issuer\[-regexp\]/);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'plain.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const priv = await provenant(['verify-attestation', '--key', 'plain.key', 'oci:layout:latest'], { cwd: dir });
    assert.equal(priv.status, 2, priv.stderr);
    assert.match(priv.stderr, /a PRIVATE KEY PEM block, not a public key/);
  });

  it('--recursive signs each platform image too, and --platform verifies one; --new-bundle-format picks one storage', async () => {
    const r = await provenant(['sign', '--key', 'cosign.key', '--recursive', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    const arm = await provenant(['verify', '--key', 'cosign.pub', '--platform', 'linux/arm64', 'oci:layout:latest'], { cwd: dir });
    assert.equal(arm.status, 0, arm.stderr);
    assert.match(arm.stdout, /2 of 2 signatures verified/);
    const other = await provenant(['sign', '--key', 'other.key', '--new-bundle-format', 'false', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(other.status, 0, other.stderr);
    assert.match(other.stdout, /1 signature\(s\) added/);
    const both = await provenant(['verify', '--key', 'other.pub', 'oci:layout:latest'], { cwd: dir });
    assert.equal(both.status, 0, both.stderr);
    // The other key verifies its own signature; the first key's (one or two payloads, in both storages) fail.
    assert.match(both.stdout, /: 1 of [35] signatures verified/);
    assert.equal(both.stdout.match(/\n {2}ok /g)?.length, 1);
    assert.match(both.stdout, /FAIL signature +referrers referrer sha256:[0-9a-f]{64}: wrong-key/);
    const none = await provenant(['verify', '--key', 'cosign.pub', '--platform', 'linux/s390x', 'oci:layout:latest'], { cwd: dir });
    assert.equal(none.status, 3, none.stderr);
  });

  it('inspect shows each signature signed, and by which key', async () => {
    const text = await provenant(['inspect', 'oci:layout:latest'], { cwd: dir });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /signature +referrers .*\(referrer\) +signed by key [A-Za-z0-9+/]{43}=/);
    assert.match(text.stdout, /signature +cosign .*\.sig\) +signed by an unnamed key/);
    const json = JSON.parse((await provenant(['inspect', '--format', 'json', 'oci:layout:latest'], { cwd: dir })).stdout);
    const bundle = json.attachments.find((a: { storage: string; kind: string }) => a.storage === 'referrers' && a.kind === 'signature');
    assert.equal(bundle.signatures.length, 1);
    assert.equal(bundle.signatures[0].signed, true);
    assert.match(bundle.signatures[0].keyId, /^[A-Za-z0-9+/]{43}=$/);
  });

  it('a changed manifest carrying the old signatures: exit 5, naming the digest each signature is for', async () => {
    const store = await LayoutStore.open(join(dir, 'layout'));
    const original = await store.getManifest('latest');
    const index = (original as { index: ImageIndex }).index;
    const changed = parseStored(encodeJson({ ...index, annotations: { 'org.example.changed': 'yes' } }));
    await store.putManifest(changed, { tags: ['tampered'] });
    // What an attacker would do: the old signature image under the new digest's tag, and the
    // old bundle's referrer pointed at the new digest.
    const sig = await store.getManifest(cosignTag(original.digest, 'sig'));
    await store.putManifest(sig, { tags: [cosignTag(changed.digest, 'sig')] });
    const bundle = (await findSignatures(store, original.digest)).find((f) => f.format === 'bundle' && f.kind === 'signature')!;
    const referrer = await store.getManifest(bundle.source.replace('referrer ', ''));
    const moved = JSON.parse(Buffer.from(referrer.bytes).toString('utf8'));
    moved.subject = { mediaType: changed.mediaType, digest: changed.digest, size: changed.bytes.length };
    await store.putManifest(parseStored(encodeJson(moved)), { tags: [] });
    await store.close();

    const r = await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:tampered'], { cwd: dir });
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`the signature is for ${original.digest}, not for this image \\(${changed.digest}\\)`));
    assert.match(r.stderr, new RegExp(`wrong-subject: the signature is about ${original.digest}, not this image \\(${changed.digest}\\)`));
  });
});

describe('verify keyless: patterns as cosign reads them', () => {
  const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  let dir: string;
  let mock: MockSigstore;
  before(async () => {
    dir = await tempDir();
    mock = await startMockSigstore({ dir });
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
    const r = await provenant(
      ['sign', '--identity-token', mock.token(IDENTITY), '--fulcio-url', mock.url, '--rekor-url', mock.url, 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(r.status, 0, r.stderr);
  });
  after(async () => {
    await mock?.stop();
  });

  it('-regexp flags are RE2 (Go’s regexp): \\A, \\z and (?i) as cosign has them, unanchored otherwise', async () => {
    const cases: [string, string, number][] = [
      ['\\Ahttps://github\\.com/acme/', MOCK_ISSUER, 0],
      ['@refs/heads/main\\z', MOCK_ISSUER, 0],
      ['(?i)GITHUB\\.COM/ACME/', '(?i)\\AHTTPS://ISSUER\\.MOCK', 0],
      ['acme/app', 'mock', 0],
      ['\\Agithub\\.com/acme/', MOCK_ISSUER, 5],
    ];
    for (const [identity, issuer, status] of cases) {
      const args = ['verify', '--certificate-identity-regexp', identity, '--certificate-oidc-issuer-regexp', issuer];
      const r = await provenant([...args, '--trusted-root', mock.trustedRootPath, 'oci:layout:latest'], { cwd: dir });
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    }
    // A lookbehind is JavaScript's, not RE2's: refused, as cosign refuses it.
    const perl = await provenant(
      ['verify', '--certificate-identity-regexp', '(?<=acme)/app', '--certificate-oidc-issuer', MOCK_ISSUER, 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(perl.status, 2, perl.stderr);
    assert.match(perl.stderr, /--certificate-identity-regexp is not a regular expression \(RE2, as Go's\)/);
  });
});

describe('keyless with a --fulcio-url that carries a password, or a Fulcio that fails', () => {
  const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  let dir: string;
  let mock: MockSigstore;
  before(async () => {
    dir = await tempDir();
    mock = await startMockSigstore({ dir });
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
  });
  after(async () => {
    await mock?.stop();
  });

  it('sign and attest name the Fulcio without its user info, in text and JSON', async () => {
    const withUser = mock.url.replace('http://', 'http://user:s3cretpw@');
    const keyless = ['--identity-token', mock.token(IDENTITY), '--fulcio-url', withUser, '--rekor-url', mock.url];
    await writeFile(join(dir, 'note.txt'), 'hello');
    for (const args of [
      ['sign', ...keyless, 'oci:layout:latest'],
      ['sign', ...keyless, '--format', 'json', 'oci:layout:latest'],
      ['attest', ...keyless, '--sign', '--predicate', 'note.txt', '--type', 'custom', 'oci:layout:latest'],
    ]) {
      const r = await provenant(args, { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!`${r.stdout}${r.stderr}`.includes('s3cretpw'), `${args[0]}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stdout.includes(`keyless (${mock.url})`), r.stdout);
    }
  });

  it('a Fulcio refusing the token exits 4 with the fresh-token hint; one unavailable after the retries, 6', async () => {
    const server = await startStatusServer({ status: 401, message: 'There was an error processing the identity token' });
    try {
      const args = ['sign', '--identity-token', mock.token(IDENTITY), '--fulcio-url', server.url, '--rekor-url', mock.url];
      const refused = await provenant([...args, 'oci:layout:latest'], { cwd: dir });
      assert.equal(refused.status, 4, refused.stderr);
      assert.match(refused.stderr, /Fulcio refused the OIDC identity token/);
      assert.match(refused.stderr, /pass a fresh token with --identity-token/);
      server.answer = { status: 503 };
      const down = await provenant([...args, 'oci:layout:latest'], { cwd: dir });
      assert.equal(down.status, 6, down.stderr);
      assert.match(down.stderr, /Fulcio answered 503/);
      server.answer = { status: 404 };
      const wrong = await provenant([...args, 'oci:layout:latest'], { cwd: dir });
      assert.equal(wrong.status, 3, wrong.stderr);
      assert.ok(wrong.stderr.includes(server.url), wrong.stderr);
    } finally {
      await server.stop();
    }
  });
});

describe('sign in a GitHub Actions job whose runner gives a token that is not a JWT', () => {
  it('exits 4 saying the token is the runner’s and to check id-token: write; never "pass the token itself", never the token', async () => {
    const dir = await tempDir();
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
    const mock = await startMockSigstore({ dir });
    const endpoint = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value: 'not-a-jwt-token-value' }));
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      const env = {
        ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/token`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'job-bearer',
      };
      const r = await provenant(['sign', '--fulcio-url', mock.url, '--rekor-url', mock.url, 'oci:layout:latest'], { cwd: dir, env });
      assert.equal(r.status, 4, r.stderr);
      assert.match(
        r.stderr,
        /the OIDC token the GitHub Actions runner gave the job is not a JWT \(21 characters, 1 dot-separated part; a JWT has 3\)/,
      );
      assert.match(r.stderr, /the token is the runner's, not one passed in: check that the job has `permissions: id-token: write`/);
      assert.doesNotMatch(r.stderr, /file name|pass the token|not-a-jwt/);
      assert.equal(mock.requests.fulcio, 0);
    } finally {
      await new Promise<void>((resolve) => endpoint.close(() => resolve()));
      await mock.stop();
    }
  });
});

describe("verify, verify-attestation --certificate-github-workflow-*: the certificate's GitHub extensions, as cosign", () => {
  const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  // A GitHub Actions token's claims, which Fulcio writes as the extensions these flags read.
  const CLAIMS = { event_name: 'push', sha: 'b'.repeat(40), workflow: 'Release', repository: 'acme/app', ref: 'refs/heads/main' };
  const FLAGS = { trigger: 'push', sha: 'b'.repeat(40), name: 'Release', repository: 'acme/app', ref: 'refs/heads/main' };
  let dir: string;
  let mock: MockSigstore;
  before(async () => {
    dir = await workspace();
    mock = await startMockSigstore({ dir });
    await writeFile(join(dir, 'vuln.json'), '{"scanner":{"result":[]}}');
    const keyless = ['--identity-token', mock.token(IDENTITY, MOCK_ISSUER, CLAIMS), '--fulcio-url', mock.url, '--rekor-url', mock.url];
    for (const args of [
      ['sign', ...keyless, 'oci:layout:latest'],
      ['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', ...keyless],
    ]) {
      const r = await provenant(args, { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    await mock?.stop();
  });
  const trust = () => [
    '--certificate-identity',
    IDENTITY,
    '--certificate-oidc-issuer',
    MOCK_ISSUER,
    '--trusted-root',
    mock.trustedRootPath,
  ];
  const flags = (values: Partial<typeof FLAGS>) =>
    Object.entries(values).flatMap(([field, value]) => [`--certificate-github-workflow-${field}`, value]);

  it('every flag matching: exit 0; one with another value: exit 5 naming the flag, the value asked and the value found', async () => {
    for (const command of [['verify'], ['verify-attestation', '--type', 'vuln', '--platform', 'linux/arm64']]) {
      const good = await provenant([...command, ...trust(), ...flags(FLAGS), 'oci:layout:latest'], { cwd: dir });
      assert.equal(good.status, 0, `${command[0]}: ${good.stderr}`);
      for (const field of Object.keys(FLAGS) as (keyof typeof FLAGS)[]) {
        const wrong = field === 'trigger' ? 'release' : `${FLAGS[field]}-other`;
        const r = await provenant([...command, ...trust(), ...flags({ ...FLAGS, [field]: wrong }), 'oci:layout:latest'], { cwd: dir });
        assert.equal(r.status, 5, `${command[0]} ${field}: ${r.stderr}`);
        assert.ok(
          r.stderr.includes(
            `certificate-extension: the certificate’s GitHub workflow ${field} (1.3.6.1.4.1.57264.1.${2 + Object.keys(FLAGS).indexOf(field)}, --certificate-github-workflow-${field}) is ${JSON.stringify(FLAGS[field])}, not ${JSON.stringify(wrong)}`,
          ),
          r.stderr,
        );
      }
    }
  });

  it('with --key, with --policy, or empty: a usage error (exit 2), as they need a keyless certificate', async () => {
    const withKey = await provenant(['verify', '--key', 'cosign.pub', ...flags({ repository: 'acme/app' }), 'oci:layout:latest'], {
      cwd: dir,
    });
    assert.equal(withKey.status, 2, withKey.stderr);
    assert.match(
      withKey.stderr,
      /--certificate-github-workflow-repository checks a keyless signature's certificate, and --key verifies with a key/,
    );
    await writeFile(join(dir, 'policy.yaml'), 'apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\n');
    const withPolicy = await provenant(['verify', '--policy', 'policy.yaml', ...flags({ ref: 'refs/heads/main' }), 'oci:layout:latest'], {
      cwd: dir,
    });
    assert.equal(withPolicy.status, 2, withPolicy.stderr);
    assert.match(withPolicy.stderr, /--certificate-github-workflow-ref cannot be given with it/);
    const empty = await provenant(['verify', ...trust(), '--certificate-github-workflow-sha', '', 'oci:layout:latest'], { cwd: dir });
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(empty.stderr, /--certificate-github-workflow-sha is empty/);
  });
});

describe('keyless without the transparency log: --tlog-upload=false, PROVENANT_TLOG_UPLOAD=false, verify --insecure-ignore-tlog', () => {
  const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
  let dir: string;
  let mock: MockSigstore;
  before(async () => {
    dir = await workspace();
    mock = await startMockSigstore({ dir });
  });
  after(async () => {
    await mock?.stop();
  });
  const keyless = () => ['sign', '--identity-token', mock.token(IDENTITY), '--fulcio-url', mock.url, '--rekor-url', mock.url];
  const verify = (...more: string[]) => [
    'verify',
    '--certificate-identity',
    IDENTITY,
    '--certificate-oidc-issuer',
    MOCK_ISSUER,
    '--trusted-root',
    mock.trustedRootPath,
    ...more,
  ];

  it('an explicit false never uploads: without a timestamp authority it is refused before Fulcio is asked', async () => {
    const before = { ...mock.requests };
    for (const [args, env] of [
      [[...keyless(), 'oci:layout:latest'], { PROVENANT_TLOG_UPLOAD: 'false' }],
      [[...keyless(), '--tlog-upload=false', 'oci:layout:latest'], {}],
    ] as const) {
      const r = await provenant([...args], { cwd: dir, env });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /keyless signing without the transparency log .* needs --timestamp-server-url/);
    }
    assert.deepEqual(mock.requests, before, 'nothing was sent to Fulcio, Rekor or the timestamp authority');
  });

  it('with a timestamp authority: signed and timestamped, not logged; verify needs --insecure-ignore-tlog, as cosign', async () => {
    const work = await tempDir();
    await cp(exampleDir, join(work, 'layout'), { recursive: true });
    const before = { ...mock.requests };
    const r = await provenant([...keyless(), '--tlog-upload=false', '--timestamp-server-url', mock.url, 'oci:layout:latest'], {
      cwd: work,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no transparency log/);
    assert.equal(mock.requests.rekor, before.rekor, 'no Rekor entry');
    assert.equal(mock.requests.tsa - before.tsa, 2);
    const strict = await provenant(verify('oci:layout:latest'), { cwd: work });
    assert.equal(strict.status, 5, strict.stderr);
    assert.match(strict.stderr, /transparency-log/);
    for (const flag of ['--insecure-ignore-tlog', '--insecure-ignore-tlog=true']) {
      const waived = await provenant(verify(flag, 'oci:layout:latest'), { cwd: work });
      assert.equal(waived.status, 0, `${flag}: ${waived.stderr}`);
      assert.match(waived.stdout, /2 of 2 signatures verified/);
    }
    const attested = await provenant(['verify-attestation', ...verify('--insecure-ignore-tlog', 'oci:layout:latest').slice(1)], {
      cwd: work,
    });
    assert.equal(attested.status, 5, 'there are no attestations, but the flag is taken');
    assert.match(attested.stderr, /has no .*attestations/);
    // The environment variable says the same as the flag.
    const env = await provenant([...keyless(), '--timestamp-server-url', mock.url, 'oci:layout:latest'], {
      cwd: work,
      env: { PROVENANT_TLOG_UPLOAD: 'false' },
    });
    assert.equal(env.status, 0, env.stderr);
    assert.equal(mock.requests.rekor, before.rekor, 'still no Rekor entry');
  });

  it('cosign’s --tlog-upload=false with a key is the default and accepted; a switch takes only true or false', async () => {
    const env = { COSIGN_PASSWORD: PASSWORD };
    const r = await provenant(['sign', '--key', 'cosign.key', '--tlog-upload=false', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    const bad = await provenant(['sign', '--key', 'cosign.key', '--tlog-upload=maybe', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /--tlog-upload is a switch and takes no value other than true or false \(it was given "maybe"\)/);
  });

  it('a cosign flag Provenant lacks is not taken for a shorter one of another meaning', async () => {
    const r = await provenant(verify('--insecure-ignore-sct', 'oci:layout:latest'), { cwd: dir });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /unknown flag --insecure-ignore-sct/);
    assert.doesNotMatch(r.stderr, /did you mean/);
  });
});

describe('sign and verify in a registry', { skip: registryMissing }, () => {
  const { registry: reg, push } = useRegistryWithExample();

  it('signs a pushed image, verifies it from the registry, and another key fails with exit 5', async () => {
    const dir = await workspace();
    const env = { COSIGN_PASSWORD: PASSWORD };
    const ref = await push('sign/app:1');
    const signed = await provenant(['sign', '--key', 'cosign.key', '--recursive', ref], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    assert.match(signed.stdout, /6 signature\(s\) added/);
    const ok = await provenant(['verify', '--key', 'cosign.pub', ref], { cwd: dir });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /2 of 2 signatures verified/);
    const json = JSON.parse((await provenant(['verify', '--key', 'cosign.pub', '--format', 'json', ref], { cwd: dir })).stdout);
    assert.equal(json.checked.find((c: { storage: string }) => c.storage === 'cosign').payload.dockerReference, `${reg.host}/sign/app`);
    const bad = await provenant(['verify', '--key', 'other.pub', ref], { cwd: dir });
    assert.equal(bad.status, 5, bad.stderr);
    assert.match(bad.stderr, /none of the 2 signatures/);

    // copy --platform makes another digest: a warning, and the index's signatures stay behind.
    const copied = await provenant(['copy', '--quiet', '--platform', 'linux/amd64', ref, `oci:${join(dir, 'amd64')}:x`], { cwd: dir });
    assert.equal(copied.status, 0, copied.stderr);
    assert.match(
      copied.stderr,
      /warning: --platform made the copy sha256:[0-9a-f]{64}, not the signed sha256:[0-9a-f]{64}: its 2 signature\(s\)/,
    );
    const carried = await provenant(
      ['copy', '--quiet', '--platform', 'linux/amd64', '--with-referrers', ref, `oci:${join(dir, 'amd64r')}:x`],
      {
        cwd: dir,
      },
    );
    assert.equal(carried.status, 0, carried.stderr);
    // The platform image was signed by itself (--recursive): those signatures come along and verify.
    const own = await provenant(['verify', '--key', 'cosign.pub', `oci:${join(dir, 'amd64r')}:x`], { cwd: dir });
    assert.equal(own.status, 0, own.stderr);
    const whole = await provenant(['copy', '--quiet', ref, `oci:${join(dir, 'whole')}:x`], { cwd: dir });
    assert.doesNotMatch(whole.stderr, /warning/);
  });
});

describe('verify-attestation: statements inside the index (BuildKit storage), through its signature', () => {
  const env = { COSIGN_PASSWORD: PASSWORD };
  const vuln = 'https://cosign\\.sigstore\\.dev/attestation/vuln/v1';

  /** `attest --attestations MODE` (unsigned) on `ref`, then verify-attestation fails, `sign` the index, and it verifies. */
  async function attestSignVerify(dir: string, ref: string, mode: string): Promise<void> {
    await writeFile(join(dir, 'vuln.json'), JSON.stringify({ scanner: { uri: 'https://scanner.example' } }));
    const attest = await provenant(['attest', ref, '--predicate', 'vuln.json', '--type', 'vuln', '--attestations', mode], { cwd: dir });
    assert.equal(attest.status, 0, attest.stderr);
    const verify = (...more: string[]) => provenant(['verify-attestation', '--key', 'cosign.pub', ...more, ref], { cwd: dir });

    // Unsigned: exit 5, and the line says the index has no signature.
    const unsigned = await verify('--type', 'vuln', '--platform', 'linux/arm64');
    assert.equal(unsigned.status, 5, unsigned.stderr);
    assert.match(
      unsigned.stderr,
      new RegExp(
        `FAIL attestation ${vuln} +buildkit +index entry sha256:[0-9a-f]{64} layer 0 \\(linux/arm64\\): unsigned: it is unsigned in the index sha256:[0-9a-f]{64}, and the index has no signature`,
      ),
    );

    const signed = await provenant(['sign', '--key', 'cosign.key', ref], { cwd: dir, env });
    assert.equal(signed.status, 0, signed.stderr);
    const index = (await provenant(['digest', ref], { cwd: dir })).stdout.trim();
    const arm = await verify('--type', 'vuln', '--platform', 'linux/arm64');
    assert.equal(arm.status, 0, arm.stderr);
    assert.match(arm.stdout, /: 1 of 1 attestations verified\n/);
    assert.match(
      arm.stdout,
      new RegExp(
        `ok +attestation ${vuln} +buildkit +index entry sha256:[0-9a-f]{64} layer 0 \\(linux/arm64\\) +by key \\S+, through the signature of the index ${index} \\((cosign sha256-[0-9a-f]{64}\\.sig layer 0|referrers referrer sha256:[0-9a-f]{64})\\)`,
      ),
    );
    const json = JSON.parse((await verify('--platform', 'linux/amd64', '--format', 'json')).stdout);
    assert.equal(json.verified, true);
    assert.equal(json.checked.length, 1);
    assert.equal(json.checked[0].storage, 'buildkit');
    assert.equal(json.checked[0].coveredBy.index, index);
    assert.equal(`sha256:${json.checked[0].statement.subjects[0].digest.sha256}`, json.digest);
    // The index: what it lists for each platform.
    const whole = await verify('--type', 'vuln');
    assert.equal(whole.status, 0, whole.stderr);
    assert.match(whole.stdout, new RegExp(`\\(${index}\\): 2 of 2 attestations verified`));
    // Another type: none, as before; another key: exit 5 with the index's signatures' reasons.
    const slsa = await verify('--type', 'slsaprovenance1', '--platform', 'linux/arm64');
    assert.equal(slsa.status, 5, slsa.stderr);
    assert.match(slsa.stderr, /has no https:\/\/slsa\.dev\/provenance\/v1 attestations/);
    const other = await provenant(['verify-attestation', '--key', 'other.pub', '--platform', 'linux/arm64', ref], { cwd: dir });
    assert.equal(other.status, 5, other.stderr);
    assert.match(
      other.stderr,
      /FAIL attestation .* buildkit .*: (signature|wrong-key): it is unsigned in the index sha256:[0-9a-f]{64}, and none of the index's \d+ signatures verifies/,
    );
  }

  for (const mode of ['buildkit', 'buildkit-artifact']) {
    it(`${mode} in a layout: unsigned fails with exit 5; once the index is signed, its statements verify`, async () => {
      const dir = await workspace();
      await attestSignVerify(dir, 'oci:layout:latest', mode);
    });
  }

  describe('in a registry', { skip: registryMissing }, () => {
    const { push } = useRegistryWithExample();
    it('buildkit: the same, from the registry', async () => {
      const dir = await workspace();
      const ref = await push('sign/attested:1');
      await attestSignVerify(dir, ref, 'buildkit');
    });
  });
});

describe('copy --platform of an unsigned index', () => {
  it('says nothing about signatures', async () => {
    const dir = await tempDir();
    const r = await provenant(['copy', '--quiet', '--platform', 'linux/amd64', `oci:${exampleDir}:latest`, `oci:${join(dir, 'out')}:x`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });
});

describe('verify: what to trust', () => {
  it('needs a key, an identity and issuer, or a policy, and not two of them', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'x.pub'), 'not a key');
    const cases: [string[], RegExp][] = [
      [['verify', `oci:${exampleDir}:latest`], /say whom to trust: --key FILE, --certificate-identity.*, or --policy FILE/],
      [['verify', '--certificate-identity', 'a@example.com', `oci:${exampleDir}:latest`], /say whom to trust/],
      [
        ['verify', '--key', 'x.pub', '--certificate-identity', 'a', '--certificate-oidc-issuer', 'b', `oci:${exampleDir}:latest`],
        /give one/,
      ],
      [
        ['verify', '--certificate-identity-regexp', '(', '--certificate-oidc-issuer', 'b', `oci:${exampleDir}:latest`],
        /not a regular expression/,
      ],
      [['verify', '--policy', 'p.yaml', '--key', 'x.pub', `oci:${exampleDir}:latest`], /--policy names its own keys/],
      [['verify-attestation', '--type', 'nonsense', '--key', 'x.pub', `oci:${exampleDir}:latest`], /invalid predicate type/],
    ];
    for (const [args, message] of cases) {
      const r = await provenant(args, { cwd: dir });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('the GitHub Actions hint shows a pattern that matches github.com, not any host in its place', async () => {
    const r = await provenant(['verify', `oci:${exampleDir}:latest`]);
    assert.equal(r.status, 2, r.stderr);
    const pattern = /--certificate-identity-regexp '([^']+)'/.exec(r.stderr)?.[1];
    assert.ok(pattern, r.stderr);
    const re = RE2JS.compile(pattern.replace('OWNER/REPO', 'acme/app'));
    assert.ok(re.test('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'));
    assert.ok(!re.test('https://githubxcom/acme/app/.github/workflows/release.yml@refs/heads/main'));
  });

  it('refuses an empty identity or issuer, exact or pattern, naming the flag: an empty pattern would trust any signer', async () => {
    const root = fixture('sig', 'sgo-trusted_root-public-good.json');
    const ref = `oci:${exampleDir}:latest`;
    const flags = ['certificate-identity', 'certificate-identity-regexp', 'certificate-oidc-issuer', 'certificate-oidc-issuer-regexp'];
    const runs = flags.flatMap((flag) => {
      const other = flag.startsWith('certificate-identity')
        ? ['--certificate-oidc-issuer', 'https://token.actions.githubusercontent.com']
        : ['--certificate-identity-regexp', '^https://github\\.com/acme/'];
      return ['verify', 'verify-attestation', 'reproduce'].map((command) => ({
        flag,
        args: [command, `--${flag}`, '', ...other, '--trusted-root', root, ref],
      }));
    });
    for (const { flag, args } of runs) {
      const r = await provenant(args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--${flag} is empty`), args.join(' '));
    }
    // An empty variable is not given: the identity is then missing, as in cosign.
    const env = await provenant(['verify', '--certificate-oidc-issuer', 'https://x.example', ref], {
      env: { PROVENANT_CERTIFICATE_IDENTITY_REGEXP: '' },
    });
    assert.equal(env.status, 2, env.stderr);
    assert.match(env.stderr, /say whom to trust/);
  });
});
