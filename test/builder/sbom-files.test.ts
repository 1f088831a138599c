// The files an SBOM lists (--sbom-files) against the bytes the image's layer holds, for files the
// build rewrites after installing the packages (accounts, os-release, `paths`).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Ajv from 'ajv';
import addFormatsModule from 'ajv-formats';
import { readTar } from '../../src/archive/tar.ts';
import { type BuildResult, buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { layerBytes } from '../../src/builder/layer.ts';
import type { ProgressUpdate } from '../../src/io/types.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import type { SpdxDocument, SpdxFile } from '../../src/sbom/spdx.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

// ajv and ajv-formats are CommonJS: Node hands ESM their module.exports.
const AjvClass = Ajv as unknown as typeof Ajv.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const EPOCH = 1_700_000_000;
const utf8 = new TextEncoder();

/** The package's files: four the build rewrites, one it replaces with a symlink, one it leaves. */
const SHIPPED = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'etc/group': 'root:x:0:\n',
  'etc/motd': 'welcome\n',
  'etc/os-release': 'ID=testos\nVERSION_ID=1.0\n',
  'etc/issue': 'testos\n',
  'usr/share/base/readme': 'kept as shipped\n',
};

/** The SHA-1 and SHA-256 of each regular file (a hardlink: its file's bytes) of a layer, by `./path`. */
async function layerFiles(result: BuildResult): Promise<Map<string, { SHA1: string; SHA256: string }>> {
  const out = new Map<string, { SHA1: string; SHA256: string }>();
  const layer = result.images[0]?.layers[0];
  assert.ok(layer !== undefined && result.images[0]?.layers.length === 1);
  for await (const entry of readTar([gunzipSync(await layerBytes(layer))])) {
    const body: Uint8Array[] = [];
    for await (const c of entry.body) body.push(c);
    const name = `./${entry.header.name.replace(/^\.?\//, '')}`;
    if (entry.header.type === 'file') {
      const bytes = Buffer.concat(body);
      out.set(name, {
        SHA1: createHash('sha1').update(bytes).digest('hex'),
        SHA256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
    // A hardlink comes after its file.
    const file = entry.header.type === 'hardlink' ? out.get(`./${entry.header.linkname.replace(/^\.?\//, '')}`) : undefined;
    if (file !== undefined) out.set(name, file);
  }
  return out;
}

describe('SBOM file lists of files the build rewrote', { skip: fixturesMissing }, () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-sbom-files-'));
    const key = generateApkKeyPair('sbom-files-test', { bits: 2048 });
    const repo = join(dir, 'repo', 'x86_64');
    await mkdir(repo, { recursive: true });
    const apk = await buildApk(
      {
        name: 'baselayout',
        version: '1-r0',
        arch: 'x86_64',
        license: 'MIT',
        builddate: EPOCH,
        files: Object.entries(SHIPPED).map(([path, text]) => ({ path, type: 'file' as const, body: utf8.encode(text) })),
      },
      { key: { privateKeyPem: key.privateKeyPem, name: key.name } },
    );
    await writeFile(join(repo, 'baselayout-1-r0.apk'), apk);
    const index = await buildApkIndex([apk], { key: { privateKeyPem: key.privateKeyPem, name: key.name }, mtime: EPOCH });
    await writeFile(join(repo, 'APKINDEX.tar.gz'), index.bytes);
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
    configPath = join(dir, 'apko.yaml');
    await writeFile(
      configPath,
      [
        'contents:',
        `  keyring: [./keys/${key.name}]`,
        '  repositories: [./repo]',
        '  packages: [baselayout]',
        'archs: [x86_64]',
        'accounts:',
        '  users: [{username: app, uid: 1000}]',
        '  groups: [{groupname: app, gid: 1000}]',
        'os-release:',
        '  id: custom',
        '  version-id: "9"',
        'paths:',
        '  - {path: /etc/motd, type: empty-file, permissions: 0o644}',
        '  - {path: /etc/issue, type: hardlink, source: /etc/motd}',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spdxOf = async (build: { cacheDir?: string; memo?: boolean; spill?: boolean }) => {
    const config = await loadConfig(configPath, { hostArch: 'x86_64' });
    const steps = new Set<string>();
    const onProgress = (u: ProgressUpdate) => {
      if (u.kind === 'step') steps.add(u.step);
    };
    const result = await buildImage({ config, configPath, sourceDateEpoch: EPOCH, memo: false, ...build, onProgress });
    const warnings: string[] = [];
    const [a] = describeBuild(result, {
      imageName: 'example.com/base:1',
      configPath,
      toolVersion: '0',
      sourceDateEpoch: EPOCH,
      builderId: 'https://ci.example/b',
      fromLock: false,
      provenance: false,
      sbomFiles: true,
      logger: { debug() {}, info() {}, warn: (m) => warnings.push(m) },
    });
    assert.deepEqual(warnings, []);
    return { result, steps, text: Buffer.from(a?.statements[0]?.bytes ?? []).toString() };
  };

  it('lists each file with the digests of its bytes in the layer, says which the build changed, and verifies over them', async () => {
    const first = await spdxOf({});
    const doc = JSON.parse(first.text).predicate as SpdxDocument;
    const ajv = new AjvClass({ allErrors: true, strict: false });
    addFormats(ajv as unknown as Parameters<typeof addFormats>[0]);
    const validate = ajv.compile(JSON.parse(await readFile(fixture('schemas', 'spdx', 'spdx-2.3-schema.json'), 'utf8')));
    assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 3)));

    const inLayer = await layerFiles(first.result);
    const files = doc.files ?? [];
    const sum = (f: SpdxFile | undefined, algorithm: string) => f?.checksums.find((c) => c.algorithm === algorithm)?.checksumValue;
    // Every digest the SBOM gives of a file is that of the layer's bytes.
    for (const f of files) {
      const real = inLayer.get(f.fileName);
      assert.ok(real !== undefined, `${f.fileName} is a file in the layer`);
      for (const c of f.checksums) assert.equal(c.checksumValue, real[c.algorithm as 'SHA1' | 'SHA256'], `${c.algorithm} of ${f.fileName}`);
    }
    // The rewritten files are listed and say so (the one the build made a hardlink with its
    // file's bytes); the one left as shipped does not.
    const byName = new Map(files.map((f) => [f.fileName, f]));
    const changed = ['./etc/group', './etc/issue', './etc/motd', './etc/os-release', './etc/passwd'];
    assert.deepEqual(
      files.filter((f) => f.comment !== undefined).map((f) => f.fileName),
      changed,
    );
    for (const name of changed) assert.match(byName.get(name)?.comment ?? '', /^Changed by the image build after the package installed it/);
    const shipped = createHash('sha1').update(SHIPPED['usr/share/base/readme']).digest('hex');
    assert.equal(sum(byName.get('./usr/share/base/readme'), 'SHA1'), shipped);
    assert.equal(byName.get('./usr/share/base/readme')?.comment, undefined);
    assert.notEqual(sum(byName.get('./etc/passwd'), 'SHA1'), createHash('sha1').update(SHIPPED['etc/passwd']).digest('hex'));
    assert.equal(sum(byName.get('./etc/issue'), 'SHA1'), createHash('sha1').digest('hex'));
    // The package's verification code is over the SHA-1s it lists (SPDX 2.3 clause 7.9).
    const pkg = doc.packages.find((p) => p.name === 'baselayout');
    const mine = doc.relationships
      .filter((r) => r.spdxElementId === pkg?.SPDXID && r.relationshipType === 'CONTAINS')
      .map((r) => files.find((f) => f.SPDXID === r.relatedSpdxElement));
    assert.equal(mine.length, 6);
    const code = createHash('sha1')
      .update(
        mine
          .map((f) => sum(f, 'SHA1') ?? '')
          .sort()
          .join(''),
      )
      .digest('hex');
    assert.deepEqual(pkg?.packageVerificationCode, { packageVerificationCodeValue: code });
  });

  it('writes the same document with the files kept out of memory, in a tree, and recalled from the build record', async () => {
    const plain = (await spdxOf({})).text;
    const cacheDir = join(dir, 'cache');
    assert.equal((await spdxOf({ cacheDir, spill: true })).text, plain, 'files kept out of the tree');
    assert.equal((await spdxOf({ cacheDir, spill: false })).text, plain, 'a tree of every file');
    await spdxOf({ cacheDir, memo: true });
    const recalled = await spdxOf({ cacheDir, memo: true });
    assert.ok(recalled.steps.has('reuse') && !recalled.steps.has('install'), 'recalled from the build record');
    assert.equal(recalled.text, plain, 'recalled from the build record');
  });
});
