// Reading an APKINDEX.tar.gz inflates each gzip member once: the first whole, no further than a
// signature can be before the signature is checked (SIGNATURE_MAX), the content after it in
// pieces, counted as they come (src/pkg/apk/apkindex.ts, readIndexText). An unsigned index
// (allowed by the caller) starts with its content: a first member that fits under SIGNATURE_MAX
// is taken as the content's first, not inflated a second time; a larger one is inflated in
// pieces from its start, after no more than SIGNATURE_MAX of it was. The count is taken at
// node:zlib's inflateRawSync (a member inflated whole) and createInflateRaw (a member in pieces),
// which src/pkg/apk/members.ts calls once per member.
import assert from 'node:assert/strict';
import { syncBuiltinESMExports } from 'node:module';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import zlib from 'node:zlib';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { INDEX_MAX, SIGNATURE_MAX } from '../../../src/pkg/apk/members.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';

const spec = {
  name: 'hello',
  version: '1.0-r0',
  arch: 'x86_64',
  builddate: 1_700_000_000,
  files: [{ path: 'usr/share/hello/greeting', type: 'file' as const, body: new TextEncoder().encode('hello\n') }],
};

/** An unsigned index of one gzip member whose APKINDEX is one stanza with a description of `size` bytes. */
async function unsignedIndex(size: number): Promise<Uint8Array> {
  const body = new TextEncoder().encode(`C:Q1${'A'.repeat(27)}=\nP:big\nV:1.0-r0\nT:${'x'.repeat(size)}\n\n`);
  return zlib.gzipSync(await tarBytes([{ header: tarHeader({ name: 'APKINDEX', size: body.length }), body }]));
}

describe('reading an APKINDEX.tar.gz inflates each member once', () => {
  /** Each inflation: the cap it was given, and what it made (undefined when it failed). */
  let calls: { maxOutputLength: number | undefined; output: number | undefined }[] = [];
  /** Each member inflated in pieces. */
  let streamed = 0;
  beforeEach(() => {
    calls = [];
    streamed = 0;
    const createInflateRaw = zlib.createInflateRaw;
    mock.method(zlib, 'createInflateRaw', (options?: zlib.ZlibOptions) => {
      streamed++;
      return createInflateRaw(options);
    });
    const original = zlib.inflateRawSync;
    mock.method(zlib, 'inflateRawSync', (buffer: zlib.InputType, options?: zlib.ZlibOptions) => {
      const call: (typeof calls)[number] = { maxOutputLength: options?.maxOutputLength, output: undefined };
      calls.push(call);
      const out = original(buffer, options) as unknown as Buffer | { buffer: Buffer };
      call.output = (Buffer.isBuffer(out) ? out : out.buffer).length;
      return out;
    });
    syncBuiltinESMExports();
  });
  afterEach(() => {
    mock.restoreAll();
    syncBuiltinESMExports();
  });

  const key = generateApkKeyPair('test.rsa', { bits: 2048 });
  const keyring = () => new ApkKeyring().add(key.name, key.publicKeyPem);
  const signing = { privateKeyPem: key.privateKeyPem, name: key.name };

  it('a signed index: the signature member under its cap, the content in pieces', async () => {
    const apk = await buildApk(spec, { key: signing });
    const { bytes } = await buildApkIndex([apk], { key: signing });
    calls = [];
    streamed = 0;
    const index = await readApkIndex(bytes, { keyring: keyring(), where: 'signed' });
    assert.equal(index.signedBy?.keyName, key.name);
    assert.deepEqual(
      calls.map((c) => c.maxOutputLength),
      [SIGNATURE_MAX],
    );
    assert.equal(streamed, 1, 'the content in pieces');
  });

  it('an unsigned index, allowed: its one member inflated once', async () => {
    const apk = await buildApk(spec, { key: signing });
    const { bytes } = await buildApkIndex([apk]);
    calls = [];
    streamed = 0;
    const index = await readApkIndex(bytes, { keyring: keyring(), where: 'unsigned', allowUntrusted: true });
    assert.equal(index.signedBy, undefined);
    assert.deepEqual(
      index.packages.map((p) => p.name),
      ['hello'],
    );
    assert.equal(calls.length, 1, 'the first member is the content: inflated once');
    assert.equal(calls[0]?.maxOutputLength, SIGNATURE_MAX);
    assert.equal(streamed, 0);
  });

  it('an unsigned index of two members, allowed: the first taken as it is, the second in pieces', async () => {
    const text = new TextEncoder().encode(`C:Q1${'A'.repeat(27)}=\nP:two\nV:1.0-r0\n\n`);
    const description = new TextEncoder().encode('v1');
    const tar = await tarBytes([
      { header: tarHeader({ name: 'DESCRIPTION', size: description.length }), body: description },
      { header: tarHeader({ name: 'APKINDEX', size: text.length }), body: text },
    ]);
    // DESCRIPTION's header and its one block of body, then the rest.
    const bytes = Buffer.concat([zlib.gzipSync(tar.subarray(0, 1024)), zlib.gzipSync(tar.subarray(1024))]);
    calls = [];
    streamed = 0;
    const index = await readApkIndex(bytes, { keyring: keyring(), where: 'two', allowUntrusted: true });
    assert.equal(index.description, 'v1');
    assert.deepEqual(
      index.packages.map((p) => p.name),
      ['two'],
    );
    assert.deepEqual(
      calls.map((c) => c.maxOutputLength),
      [SIGNATURE_MAX],
    );
    assert.equal(streamed, 1, 'the second member in pieces');
  });

  it('an unsigned index larger than a signature member: in pieces when allowed, no further than SIGNATURE_MAX when not', async () => {
    const bytes = await unsignedIndex(SIGNATURE_MAX + 1024);
    calls = [];
    streamed = 0;
    const index = await readApkIndex(bytes, { keyring: keyring(), where: 'large', allowUntrusted: true });
    assert.equal(index.packages[0]?.description.length, SIGNATURE_MAX + 1024);
    assert.deepEqual(calls, [{ maxOutputLength: SIGNATURE_MAX, output: undefined }], 'no more than a signature inflated whole');
    assert.equal(streamed, 1);
    calls = [];
    streamed = 0;
    await assert.rejects(readApkIndex(bytes, { keyring: keyring(), where: 'large' }), (e: unknown) => isProvenantError(e, 'SIGNATURE'));
    assert.deepEqual(calls, [{ maxOutputLength: SIGNATURE_MAX, output: undefined }], 'refused after inflating no more than a signature');
    assert.equal(streamed, 0);
  });

  it('the members after the first count toward the index cap together with it', async () => {
    // The first member (unsigned, allowed) is DESCRIPTION; the second takes the content past INDEX_MAX by a byte.
    const description = new TextEncoder().encode('v1');
    const tar = await tarBytes([{ header: tarHeader({ name: 'DESCRIPTION', size: description.length }), body: description }]);
    const head = zlib.gzipSync(tar.subarray(0, 1024));
    const rest = zlib.gzipSync(new Uint8Array(INDEX_MAX - 1024 + 1));
    await assert.rejects(
      readApkIndex(Buffer.concat([head, rest]), { keyring: keyring(), where: 'two', allowUntrusted: true }),
      (e: unknown) => isProvenantError(e, 'TOO_LARGE') && /the index inflates to more than/.test(e.message),
    );
  });
});
