import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError, ProvenantError } from '../../../src/errors.ts';
import { parseApkIndexText, readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { DATA_MAX, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { parsePkgInfo, readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { streamApkFile } from '../../../src/pkg/apk/stream.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { fixture, fixturesMissing, readFixture } from '../../helpers/fixtures.ts';

const skip = fixturesMissing;

/** Every public key of the apk fixtures, by its file name. */
function fixtureKeyring(except: string[] = []): ApkKeyring {
  const kr = new ApkKeyring();
  for (const f of readdirSync(fixture('apk'))) {
    if (f.endsWith('.rsa.pub') && !except.includes(f)) kr.add(f, readFileSync(fixture('apk', f), 'utf8'));
  }
  return kr;
}

const code = (c: string) => (err: unknown) => isProvenantError(err) && err.code === c;

describe('APKINDEX.tar.gz', { skip }, () => {
  it('verifies and parses the real Alpine v3.16 x86_64 and v3.17 aarch64 indexes completely', async () => {
    const kr = fixtureKeyring();
    const cases = [
      [
        'alpine-v3.16-main-x86_64.APKINDEX.tar.gz',
        4929,
        'v3.16.3-13-g4d933a1fa3',
        'alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub',
        'x86_64',
      ],
      [
        'alpine-v3.17-main-aarch64.APKINDEX.tar.gz',
        5004,
        'v3.17.3-216-g54a39ace82a',
        'alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub',
        'aarch64',
      ],
    ] as const;
    for (const [file, count, description, key, arch] of cases) {
      const index = await readApkIndex(await readFixture('apk', file), { keyring: kr, where: file });
      assert.equal(index.packages.length, count);
      assert.equal(index.description, description);
      assert.deepEqual(index.signedBy, { type: 'RSA', keyName: key });
      for (const p of index.packages) {
        assert.match(p.checksum, /^Q1[A-Za-z0-9+/]{27}=$/, p.name);
        assert.equal(p.arch, p.arch === 'noarch' ? 'noarch' : arch, p.name);
        assert.ok(p.size > 0 && p.version !== '' && p.origin !== '', p.name);
        // Nothing falls through to `extra` in a real index: every field is understood.
        assert.deepEqual(Object.keys(p.extra), [], `${p.name} has unparsed fields`);
      }
      const busybox = index.packages.find((p) => p.name === 'busybox');
      assert.ok(busybox?.provides.some((p) => p.startsWith('cmd:busybox=')));
      assert.ok(busybox?.depends.some((d) => d.startsWith('so:libc.musl')));
    }
  });

  it('verifies SHA-256 signatures, and an index with three signatures', async () => {
    const kr = fixtureKeyring();
    const one = await readApkIndex(await readFixture('apk', 'rsa256test-aarch64.APKINDEX.tar.gz'), { keyring: kr, where: 'rsa256' });
    assert.deepEqual(one.signedBy, { type: 'RSA256', keyName: 'test-rsa256.rsa.pub' });
    const multi = await readApkIndex(await readFixture('apk', 'chainguard-multisig-aarch64.APKINDEX.tar.gz'), {
      keyring: kr,
      where: 'multisig',
    });
    assert.equal(multi.signatures.length, 3);
    assert.equal(multi.packages.length, 16);
    // Any one trusted key is enough.
    const onlyLast = new ApkKeyring().add(
      'chainguard-61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3.rsa.pub',
      readFileSync(fixture('apk', 'chainguard-61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3.rsa.pub'), 'utf8'),
    );
    const again = await readApkIndex(await readFixture('apk', 'chainguard-multisig-aarch64.APKINDEX.tar.gz'), {
      keyring: onlyLast,
      where: 'multisig',
    });
    assert.equal(again.signedBy?.keyName, 'chainguard-61cb6bccd1f584b007db7be51ebce2b0530a54cc5a94e7650b570d113d537cf3.rsa.pub');
  });

  it('rejects an index whose APKINDEX was changed under its signature', async () => {
    const bytes = await readFixture('apk', 'apkotest-x86_64.APKINDEX.tar.gz');
    const [sig, content] = splitGzipMembers(bytes, { maxOutput: DATA_MAX });
    assert.ok(sig && content);
    // Re-pack the content with one version changed: a well-formed index, a stale signature.
    const files: { name: string; body: Uint8Array }[] = [];
    const { readTar } = await import('../../../src/archive/tar.ts');
    for await (const e of readTar([content.data])) {
      const parts: Uint8Array[] = [];
      for await (const c of e.body) parts.push(c);
      files.push({ name: e.header.name, body: Buffer.concat(parts) });
    }
    const tampered = files.map((f) =>
      f.name === 'APKINDEX' ? { ...f, body: Buffer.from(Buffer.from(f.body).toString().replace('V:1.0.0-r0', 'V:9.0.0-r0')) } : f,
    );
    const repacked = gzipSync(
      await tarBytes(tampered.map((f) => ({ header: tarHeader({ name: f.name, size: f.body.length }), body: f.body }))),
    );
    const forged = Buffer.concat([sig.compressed, repacked]);
    await assert.rejects(readApkIndex(forged, { keyring: fixtureKeyring(), where: 'forged' }), code('SIGNATURE'));
    // Without the signature member it is unsigned, which is refused too.
    await assert.rejects(readApkIndex(repacked, { keyring: fixtureKeyring(), where: 'unsigned' }), code('SIGNATURE'));
    // ... unless the caller says so.
    const loose = await readApkIndex(repacked, { keyring: fixtureKeyring(), where: 'unsigned', allowUntrusted: true });
    assert.equal(loose.signedBy, undefined);
    assert.ok(loose.packages.some((p) => p.version === '9.0.0-r0'));
  });

  it('names the keys when none is trusted, and refuses a flipped byte and a truncated file', async () => {
    const bytes = await readFixture('apk', 'alpine-v3.16-main-x86_64.APKINDEX.tar.gz');
    const kr = fixtureKeyring(['alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub']);
    await assert.rejects(readApkIndex(bytes, { keyring: kr, where: 'alpine' }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'));
      assert.match(err.message, /6165ee59/);
      assert.equal(err.where, 'alpine');
      return true;
    });
    const flipped = new Uint8Array(bytes);
    flipped[flipped.length - 100] = (flipped[flipped.length - 100] ?? 0) ^ 0x40;
    // The signature is checked over the compressed bytes before they are inflated: a changed or
    // cut index fails it, untrusted indexes allowed or not (the signature is by a trusted key).
    const cut = bytes.subarray(0, bytes.length - 5000);
    for (const allowUntrusted of [false, true]) {
      await assert.rejects(readApkIndex(flipped, { keyring: fixtureKeyring(), where: 'flipped', allowUntrusted }), code('SIGNATURE'));
      await assert.rejects(readApkIndex(cut, { keyring: fixtureKeyring(), where: 'cut', allowUntrusted }), code('SIGNATURE'));
    }
    // With a keyring that lacks its key and untrusted indexes allowed, the gzip checks refuse them.
    await assert.rejects(readApkIndex(flipped, { keyring: kr, where: 'flipped', allowUntrusted: true }), code('INVALID_PACKAGE'));
    await assert.rejects(readApkIndex(cut, { keyring: kr, where: 'cut', allowUntrusted: true }), code('TRUNCATED'));
  });
});

describe('.apk packages', { skip }, () => {
  it('verify by signature (SHA-1 and SHA-256) and give the checksum the index has', async () => {
    const kr = fixtureKeyring();
    const index = await readApkIndex(await readFixture('apk', 'apkotest-x86_64.APKINDEX.tar.gz'), { keyring: kr, where: 'index' });
    for (const name of ['pretend-baselayout', 'replayout', 'custom-ca-certs-1', 'custom-ca-certs-2']) {
      const file = `apkotest-x86_64-${name}-1.0.0-r0.apk`;
      const pkg = await readApkPackage(await readFixture('apk', file), { keyring: kr, where: file });
      const entry = index.packages.find((p) => p.name === name);
      assert.equal(pkg.checksum, entry?.checksum);
      assert.equal(pkg.signedBy?.type, 'RSA256');
      assert.equal(pkg.pkginfo.get('pkgname')?.[0], name);
      // Verified through the index's checksum instead of a signature.
      await readApkPackage(await readFixture('apk', file), { expectedChecksum: entry?.checksum, where: file });
    }
    const alpine = await readApkPackage(await readFixture('apk', 'alpine-v3.16-aarch64-alpine-baselayout-3.2.0-r23.apk'), {
      keyring: kr,
      where: 'a',
    });
    assert.equal(alpine.checksum, 'Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=');
    assert.equal(alpine.signedBy?.type, 'RSA');
    assert.ok(alpine.scripts.has('.pre-install'));
    assert.ok(alpine.entries.some((e) => e.path === 'etc/crontabs/root'));
    const replaces = await readApkPackage(await readFixture('apk', 'melange-unsigned-replaces-0.0.1-r0.apk'), {
      where: 'r',
      allowUntrusted: true,
    });
    assert.ok((replaces.pkginfo.get('replaces')?.length ?? 0) > 1);
  });

  it("count as install scripts only apk's script names, not melange's .melange.yaml", async () => {
    // apk-tools' apk_script_types: pre/post-install, pre/post-upgrade, pre/post-deinstall, trigger.
    const kr = fixtureKeyring();
    const file = 'apkotest-x86_64-replayout-1.0.0-r0.apk';
    const replayout = await readApkPackage(await readFixture('apk', file), { keyring: kr, where: file });
    assert.deepEqual([...replayout.scripts.keys()], []);
    const alpine = await readApkPackage(await readFixture('apk', 'alpine-v3.16-aarch64-alpine-baselayout-3.2.0-r23.apk'), {
      keyring: kr,
      where: 'a',
    });
    assert.ok([...alpine.scripts.keys()].every((n) => /^\.(pre|post)-(install|upgrade|deinstall)$|^\.trigger$/.test(n)));
    assert.ok(alpine.scripts.has('.pre-install'));
  });

  it('reject a package the index does not name, one with a changed data member, and one signed by a same-named other key', async () => {
    const kr = fixtureKeyring();
    const file = 'apkotest-x86_64-replayout-1.0.0-r0.apk';
    await assert.rejects(
      readApkPackage(await readFixture('apk', file), { expectedChecksum: 'Q1m6wB0UFePGN8Drz82pC8y2uAiu8=', where: file }),
      code('DIGEST_MISMATCH'),
    );
    for (const bad of ['wolfi-aarch64-aws-c-s3-0.4.9-r0.datahash-mismatch.apk', 'wolfi-aarch64-neon-4604-r0.datahash-mismatch.apk']) {
      const bytes = await readFixture('apk', bad);
      // Vouch for the control member the way a verified index would; the data still must match.
      const members = splitGzipMembers(bytes, { maxOutput: DATA_MAX });
      const q1 = `Q1${createHash('sha1')
        .update(members[1]?.compressed ?? new Uint8Array())
        .digest('base64')}`;
      await assert.rejects(readApkPackage(bytes, { expectedChecksum: q1, where: bad }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'));
        assert.match(err.message, /datahash/);
        return true;
      });
    }
    await assert.rejects(
      readApkPackage(await readFixture('apk', 'melange-x86_64-hello-wolfi-2.12.1-r0.otherkey.apk'), { keyring: kr, where: 'hello' }),
      code('SIGNATURE'),
    );
    await assert.rejects(
      readApkPackage(await readFixture('apk', 'wolfi-aarch64-libcap-2.69-r0.apk'), { keyring: kr, where: 'libcap' }),
      code('UNTRUSTED_KEY'),
    );
  });

  it('refuses paths that leave the root and files whose SHA-1 does not match', async () => {
    const build = async (entries: { name: string; body?: string; sha1?: string; linkname?: string }[]) => {
      const data = gzipSync(
        await tarBytes(
          entries.map((e) => {
            if (e.linkname !== undefined) return { header: tarHeader({ name: e.name, type: 'symlink', linkname: e.linkname }) };
            const body = Buffer.from(e.body ?? '');
            const pax = e.sha1 === undefined ? undefined : { 'APK-TOOLS.checksum.SHA1': e.sha1 };
            return { header: tarHeader({ name: e.name, size: body.length, pax }), body };
          }),
          // Hostile names too: the reader is what must refuse them.
          { unsafeNames: true },
        ),
      );
      const info = `pkgname = x\npkgver = 1-r0\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`;
      const control = gzipSync(await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: info.length }), body: Buffer.from(info) }]));
      return Buffer.concat([control, data]);
    };
    const ok = await readApkPackage(await build([{ name: 'usr/bin/x', body: 'hi' }]), { where: 'ok', allowUntrusted: true });
    assert.deepEqual(
      ok.entries.map((e) => e.path),
      ['usr/bin/x'],
    );
    await assert.rejects(
      readApkPackage(await build([{ name: '../../etc/passwd', body: 'x' }]), { where: 'evil', allowUntrusted: true }),
      code('UNSAFE_PATH'),
    );
    await assert.rejects(
      readApkPackage(await build([{ name: '/etc/passwd', body: 'x' }]), { where: 'evil', allowUntrusted: true }),
      code('UNSAFE_PATH'),
    );
    // A line break would write lines of its own into apk's installed database (F:, R:), read whole or streamed.
    for (const name of ['etc/a\nR:evil', 'etc/a\rb']) {
      const bytes = await build([{ name, body: 'x' }]);
      await assert.rejects(readApkPackage(bytes, { where: 'evil', allowUntrusted: true }), code('UNSAFE_PATH'), JSON.stringify(name));
      const dir = await mkdtemp(join(tmpdir(), 'provenant-apk-newline-'));
      try {
        const path = join(dir, 'x.apk');
        await writeFile(path, bytes);
        const writer = await new DownloadCache(join(dir, 'cache')).writer();
        await assert.rejects(streamApkFile(path, bytes.length, writer, { where: 'evil', allowUntrusted: true }), code('UNSAFE_PATH'));
        await writer.abort();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // A name `a/` 100,000 times deep (a PAX record) filled the heap once put in the tree; a name
    // deeper than PATH_PARTS_MAX, and a link target longer than PATH_MAX, are refused as well.
    for (const [entry, message] of [
      [{ name: `${'a/'.repeat(100_000)}f` }, /200001 bytes long, more than PATH_MAX/],
      [{ name: `${'a/'.repeat(1024)}f` }, /more than 1024 parts/],
      [{ name: 'usr/l', linkname: 'b/'.repeat(2049) }, /links to a target of 4098 bytes/],
    ] as const) {
      const bytes = await build([entry]);
      const refused = (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') &&
        message.test(err.message) &&
        err.where?.startsWith('deep: ') === true &&
        err.where.length < 200;
      await assert.rejects(readApkPackage(bytes, { where: 'deep', allowUntrusted: true }), refused, String(message));
      const dir = await mkdtemp(join(tmpdir(), 'provenant-apk-deep-'));
      try {
        const path = join(dir, 'x.apk');
        await writeFile(path, bytes);
        const writer = await new DownloadCache(join(dir, 'cache')).writer();
        await assert.rejects(streamApkFile(path, bytes.length, writer, { where: 'deep', allowUntrusted: true }), refused, String(message));
        await writer.abort();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // A whiteout name (`.wh.NAME`, `.wh..wh..opq`) would delete other packages' files once the
    // package is a layer of its own: refused, naming the package and the entry, read whole or streamed.
    for (const name of ['etc/.wh.passwd', './usr/lib/.wh..wh..opq', '.wh.etc/x']) {
      const bytes = await build([{ name, body: '' }]);
      const named = (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') && /an OCI whiteout name/.test(err.message) && err.where === `zevil: ${JSON.stringify(name)}`;
      await assert.rejects(readApkPackage(bytes, { where: 'zevil', allowUntrusted: true }), named, name);
      const dir = await mkdtemp(join(tmpdir(), 'provenant-apk-whiteout-'));
      try {
        const path = join(dir, 'x.apk');
        await writeFile(path, bytes);
        const writer = await new DownloadCache(join(dir, 'cache')).writer();
        await assert.rejects(streamApkFile(path, bytes.length, writer, { where: 'zevil', allowUntrusted: true }), named, name);
        await writer.abort();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    await assert.rejects(
      readApkPackage(await build([{ name: 'a', body: 'x', sha1: '0000000000000000000000000000000000000000' }]), {
        where: 'sha',
        allowUntrusted: true,
      }),
      code('DIGEST_MISMATCH'),
    );
    // Unsigned and not vouched for: refused by default.
    await assert.rejects(readApkPackage(await build([{ name: 'a' }]), { where: 'unsigned' }), code('SIGNATURE'));
  });
});

describe('APKINDEX text and .PKGINFO parsers', () => {
  it('parses every field and keeps unknown ones', () => {
    const [p] = parseApkIndexText(
      'C:Q1abc=\nP:a\nV:1-r0\nA:x86_64\nS:10\nI:20\nD:b so:c>1\nD:d\np:cmd:a=1-r0\ni:x y\nk:5\nZ:zz\n\n',
      'idx',
    );
    assert.deepEqual(p?.depends, ['b', 'so:c>1', 'd']);
    assert.deepEqual(p?.installIf, ['x', 'y']);
    assert.equal(p?.providerPriority, 5);
    assert.deepEqual(p?.extra, { Z: ['zz'] });
  });

  it('says which line is wrong', () => {
    assert.throws(
      () => parseApkIndexText('C:Q1=\nP:a\nV:1\nS:ten\n', 'idx'),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE') && err.where === 'idx:4',
    );
    assert.throws(
      () => parseApkIndexText('P:a\nV:1\n\nC:Q1=\nP:b\nV:1\n', 'idx'),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE') && /no C: field/.test(err.message),
    );
  });

  it('never throws anything but a typed error on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        for (const parse of [() => parseApkIndexText(text, 'x'), () => parsePkgInfo(text, 'x')]) {
          try {
            parse();
          } catch (err) {
            assert.ok(err instanceof ProvenantError, String(err));
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('splits gzip members, or refuses arbitrary bytes with a typed error', () => {
    const a = gzipSync(Buffer.from('one'));
    const b = gzipSync(Buffer.from('two'));
    const members = splitGzipMembers(Buffer.concat([a, b]), { maxOutput: DATA_MAX });
    assert.deepEqual(
      members.map((m) => [m.start, m.end, Buffer.from(m.data).toString()]),
      [
        [0, a.length, 'one'],
        [a.length, a.length + b.length, 'two'],
      ],
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (junk, at) => {
        const input = Buffer.concat([a, junk]);
        const cut = input.subarray(0, at % (input.length + 1));
        for (const bytes of [input, cut, junk]) {
          try {
            splitGzipMembers(bytes, { maxOutput: DATA_MAX });
          } catch (err) {
            assert.ok(isProvenantError(err, 'INVALID_PACKAGE', 'TRUNCATED'), String(err));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the apk keyring', () => {
  it('takes RSA public keys and refuses a private key, which would be published as a trusted key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const kr = new ApkKeyring().add('k.rsa.pub', spki).add('k1.rsa.pub', spki);
    assert.deepEqual(kr.names(), ['k.rsa.pub', 'k1.rsa.pub']);
    for (const pem of [
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'p' }).toString(),
      // A public key with the private one after it: the text as a whole would be published.
      `${spki}${privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()}`,
    ]) {
      assert.throws(
        () => new ApkKeyring().add('k.rsa', pem, 'keys/k.rsa'),
        (err: unknown) => isProvenantError(err, 'UNTRUSTED_KEY') && /private key/.test(err.message) && err.where === 'keys/k.rsa',
      );
    }
  });
});
