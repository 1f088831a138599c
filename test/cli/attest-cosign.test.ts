// `attest` and `verify-attestation` where cosign sets the behaviour: `--type spdx` takes an SPDX
// document's text as it is, a predicate must be a JSON object, an index is attested by its own
// digest too (what policy-controller checks), `--replace`, and a `--type` that matches nothing
// names the types there are.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { collect } from '../../src/io/verify.ts';
import { parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { findSignatures } from '../../src/sign/storage.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { exampleWorkspace, useRegistryWithExample } from '../helpers/example.ts';
import { registryMissing } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const tempDir = useTempDir('cli-attest-cosign');
const PASSWORD = 'correct horse battery staple';
const env = { COSIGN_PASSWORD: PASSWORD, SOURCE_DATE_EPOCH: '1700000000' };
const SPDX = 'https://spdx.dev/Document';
const VULN = 'https://cosign.sigstore.dev/attestation/vuln/v1';
/** VULN as a pattern. */
const VULN_RE = VULN.replaceAll('.', '\\.').replaceAll('/', '\\/');

/** A folder with a key pair (`cosign.key`, `cosign.pub`) and the example two-platform image as `layout`. */
async function workspace(): Promise<string> {
  const dir = await exampleWorkspace(await tempDir(), { password: PASSWORD });
  await writeFile(join(dir, 'vuln.json'), JSON.stringify({ scanner: { uri: 'x', version: '1' }, metadata: {} }));
  return dir;
}

/** The index `latest` names and its platform images. */
async function digests(dir: string): Promise<{ index: Digest; images: Digest[] }> {
  const store = await LayoutStore.open(join(dir, 'layout'));
  try {
    const root = await store.getManifest('latest');
    assert.equal(root.kind, 'index');
    return { index: root.digest, images: root.kind === 'index' ? root.index.manifests.map((m) => m.digest) : [] };
  } finally {
    await store.close();
  }
}

/** The statements of the signed attestations of `digest` (both storages), each as its parsed JSON. */
async function statementsOf(dir: string, digest: Digest): Promise<{ predicateType: string; predicate: unknown; storage: string }[]> {
  const store = await LayoutStore.open(join(dir, 'layout'));
  try {
    const out = [];
    for (const f of await findSignatures(store, digest)) {
      if (f.kind !== 'attestation') continue;
      const payload =
        f.format === 'bundle' && f.bundle?.content.$case === 'dsseEnvelope'
          ? f.bundle.content.dsseEnvelope.payload
          : f.format !== 'cosign-layer' || f.layer === undefined
            ? undefined
            : Buffer.from((JSON.parse(Buffer.from(f.layer.payload).toString('utf8')) as { payload: string }).payload, 'base64');
      if (payload === undefined) continue;
      const st = JSON.parse(Buffer.from(payload).toString('utf8')) as { predicateType: string; predicate: unknown };
      out.push({ predicateType: st.predicateType, predicate: st.predicate, storage: f.storage });
    }
    return out;
  } finally {
    await store.close();
  }
}

/** A ClusterImagePolicy: cosign.pub's attestation of `predicateType` whose scanner is `x`, on every image. */
function policy(predicateType: string): string {
  return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: scanned
spec:
  images:
  - glob: "**"
  authorities:
  - key:
      secretRef:
        name: cosign.pub
    attestations:
    - name: scan
      predicateType: ${predicateType}
      policy:
        type: cel
        data: predicate.scanner.uri == "x"
`;
}

const TAG_VALUE = `SPDXVersion: SPDX-2.3
DataLicense: CC0-1.0
SPDXID: SPDXRef-DOCUMENT
DocumentName: hello
DocumentNamespace: https://example.org/spdx/hello
Creator: Tool: provenant-test
Created: 2023-11-14T22:13:20Z
`;

describe('attest --type spdx and spdxjson, as cosign', () => {
  it('spdx keeps the document as text (tag-value, and JSON too), and it verifies; spdxjson wants JSON', async () => {
    const dir = await workspace();
    await writeFile(join(dir, 'sbom.spdx'), TAG_VALUE);
    const json = JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'hello' });
    await writeFile(join(dir, 'sbom.spdx.json'), json);
    for (const file of ['sbom.spdx', 'sbom.spdx.json']) {
      const r = await provenant(
        ['attest', 'oci:layout:latest', '--predicate', file, '--type', 'spdx', '--key', 'cosign.key', '--attestations', 'cosign'],
        { cwd: dir, env },
      );
      assert.equal(r.status, 0, r.stderr);
    }
    const { images } = await digests(dir);
    const found = await statementsOf(dir, images[0] as Digest);
    // cosign's generateSPDXStatement(..., false): the file's text as the predicate, a string.
    assert.deepEqual(
      found.map((s) => [s.predicateType, s.predicate]),
      [
        [SPDX, TAG_VALUE],
        [SPDX, json],
      ],
    );
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'spdx', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 0, v.stderr);
    // spdxjson reads the file as a JSON object, as cosign's generateSPDXStatement(..., true).
    const refused = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'sbom.spdx', '--type', 'spdxjson', '--key', 'cosign.key'],
      { cwd: dir, env },
    );
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /the predicate sbom\.spdx is not JSON/);
    assert.match(refused.stderr, /--type spdx takes an SPDX document as text/);
    assert.doesNotMatch(refused.stderr, /as cosign does/);
    const ok = await provenant(
      [
        'attest',
        'oci:layout:latest',
        '--predicate',
        'sbom.spdx.json',
        '--type',
        'spdxjson',
        '--key',
        'cosign.key',
        '--attestations',
        'cosign',
      ],
      { cwd: dir, env },
    );
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual((await statementsOf(dir, images[0] as Digest))[2]?.predicate, JSON.parse(json));
  });
});

describe('attest: a predicate that is JSON but no object', () => {
  it('is refused, naming the file, before anything is written; custom still wraps it as text', async () => {
    const dir = await workspace();
    const before = await digests(dir);
    for (const [text, kind] of [
      ['[1,2]', 'an array'],
      ['null', 'null'],
      ['3', 'a number'],
      ['"text"', 'a string'],
    ] as const) {
      await writeFile(join(dir, 'p.json'), text);
      for (const type of ['https://example.org/p/v1', 'spdxjson', 'vuln']) {
        const r = await provenant(['attest', 'oci:layout:latest', '--predicate', 'p.json', '--type', type, '--key', 'cosign.key'], {
          cwd: dir,
          env,
        });
        assert.equal(r.status, 2, `${text} ${type}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`the predicate p\\.json is JSON but not an object \\(it is ${kind}\\)`));
      }
    }
    const store = await LayoutStore.open(join(dir, 'layout'));
    try {
      assert.deepEqual(await findSignatures(store, before.index), []);
      for (const d of before.images) assert.deepEqual(await findSignatures(store, d), []);
    } finally {
      await store.close();
    }
    await writeFile(join(dir, 'p.json'), '[1,2]');
    const custom = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'p.json', '--type', 'custom', '--key', 'cosign.key', '--attestations', 'cosign'],
      { cwd: dir, env },
    );
    assert.equal(custom.status, 0, custom.stderr);
    assert.deepEqual(
      (await statementsOf(dir, before.index)).map((s) => s.predicate),
      [{ Data: '[1,2]', Timestamp: '2023-11-14T22:13:20Z' }],
    );
  });
});

describe('attest on an index', () => {
  for (const mode of ['referrers', 'cosign'] as const) {
    it(`${mode}: attests the index the reference names as well as its platform images; verify-attestation passes on the index and a platform${mode === 'cosign' ? ', policy test on the index' : ''}`, async () => {
      const dir = await workspace();
      const r = await provenant(
        ['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', '--key', 'cosign.key', '--attestations', mode],
        { cwd: dir, env },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`attached ${VULN} to the index and its 2 platform image\\(s\\) of oci:layout:latest`));
      const { index, images } = await digests(dir);
      for (const d of [index, ...images]) {
        assert.deepEqual(
          (await statementsOf(dir, d)).map((s) => [s.predicateType, s.storage]),
          [[VULN, mode]],
          d,
        );
      }
      const json = await provenant(
        [
          'attest',
          'oci:layout:latest',
          '--predicate',
          'vuln.json',
          '--type',
          'vuln',
          '--key',
          'cosign.key',
          '--attestations',
          mode,
          '--format',
          'json',
        ],
        { cwd: dir, env },
      );
      assert.equal(json.status, 0, json.stderr);
      assert.equal((JSON.parse(json.stdout) as { index?: string }).index, index);
      for (const extra of [[], ['--platform', 'linux/amd64']]) {
        const v = await provenant(['verify-attestation', 'oci:layout:latest', ...extra, '--type', 'vuln', '--key', 'cosign.pub'], {
          cwd: dir,
          env,
        });
        assert.equal(v.status, 0, `${extra.join(' ')}: ${v.stderr}`);
      }
      // A ClusterImagePolicy with an attestation requirement checks the digest the tag names: the
      // index. A key authority reads the legacy format (the .att tag) only.
      if (mode !== 'cosign') return;
      await writeFile(join(dir, 'pol.yaml'), policy(VULN));
      const p = await provenant(['policy', 'test', 'pol.yaml', 'oci:layout:latest'], { cwd: dir, env });
      assert.equal(p.status, 0, p.stdout + p.stderr);
    });
  }

  it('buildkit: the statements stay about the platform images (the index is rewritten), and the output says so', async () => {
    const dir = await workspace();
    const r = await provenant(['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', '--attestations', 'buildkit'], {
      cwd: dir,
      env,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`attached ${VULN} to 2 image\\(s\\) of oci:layout:latest \\(buildkit, unsigned\\)`));
  });
});

describe('attest on an index in a registry', { skip: registryMissing }, () => {
  const { push } = useRegistryWithExample();

  it('the tag resolves to the index, which policy test checks: attested in the .att tag, it passes', async () => {
    const dir = await workspace();
    const ref = await push('acme/attest-index:v1');
    await writeFile(join(dir, 'pol.yaml'), policy(VULN));
    const before = await provenant(['policy', 'test', 'pol.yaml', ref], { cwd: dir, env });
    assert.equal(before.status, 1, before.stdout + before.stderr);
    const r = await provenant(
      ['attest', ref, '--predicate', 'vuln.json', '--type', 'vuln', '--key', 'cosign.key', '--attestations', 'cosign'],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    const p = await provenant(['policy', 'test', 'pol.yaml', ref], { cwd: dir, env });
    assert.equal(p.status, 0, p.stdout + p.stderr);
    assert.match(r.stdout, /to the index and its 2 platform image\(s\)/);
    for (const extra of [[], ['--platform', 'linux/arm64']]) {
      const v = await provenant(['verify-attestation', ref, ...extra, '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
      assert.equal(v.status, 0, `${extra.join(' ')}: ${v.stderr}`);
    }
  });
});

describe('verify-attestation --type that matches none', () => {
  it('names the predicate types it found, as cosign says "found: ..."', async () => {
    const dir = await workspace();
    const r = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', '--key', 'cosign.key', '--attestations', 'cosign'],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    await writeFile(join(dir, 'note.txt'), 'hello');
    const c = await provenant(['attest', 'oci:layout:latest', '--predicate', 'note.txt', '--type', 'custom', '--key', 'cosign.key'], {
      cwd: dir,
      env,
    });
    assert.equal(c.status, 0, c.stderr);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'slsaprovenance1', '--key', 'cosign.pub'], {
      cwd: dir,
      env,
    });
    assert.equal(v.status, 5, v.stderr);
    assert.match(
      v.stderr,
      // In the order the verification met them: its cosign tags, then its referrers.
      /has no https:\/\/slsa\.dev\/provenance\/v1 attestations; found: https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1, https:\/\/cosign\.sigstore\.dev\/attestation\/v1\n/,
    );
    assert.match(v.stderr, /check --type/);
    // Nothing at all: no list.
    const bare = await workspace();
    const none = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: bare, env });
    assert.equal(none.status, 5, none.stderr);
    assert.doesNotMatch(none.stderr, /found:/);
    // Nothing on its images either: --platform would not help.
    assert.doesNotMatch(none.stderr, /--platform/);
    assert.match(none.stderr, /attest it first/);
  });

  it('an index whose platform image alone has one: the hint names that platform, to verify with --platform', async () => {
    const dir = await workspace();
    const { images } = await digests(dir);
    const r = await provenant(
      [
        'attest',
        `oci:layout@${images[1]}`,
        '--predicate',
        'vuln.json',
        '--type',
        'vuln',
        '--key',
        'cosign.key',
        '--attestations',
        'cosign',
      ],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    const platform = JSON.parse((await provenant(['inspect', '--format', 'json', 'oci:layout:latest'], { cwd: dir })).stdout) as {
      manifests: { platform: { os: string; architecture: string } }[];
    };
    const p = platform.manifests[1]?.platform;
    assert.ok(p);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 5, v.stderr);
    assert.match(
      v.stderr,
      new RegExp(
        `has no ${VULN_RE} attestations\n  hint: its ${p.os}/${p.architecture} image has ${VULN_RE} attestations of its own .*: verify one with --platform ${p.os}/${p.architecture}\n`,
      ),
    );
  });

  it('names an unsigned one as such, and does not send an index that has one to --platform', async () => {
    const dir = await workspace();
    const r = await provenant(['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'slsaprovenance1', '--key', 'cosign.pub'], {
      cwd: dir,
      env,
    });
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, new RegExp(`has no https://slsa\\.dev/provenance/v1 attestations; found: ${VULN_RE} \\(unsigned\\)\n`));
    assert.match(v.stderr, /attest again with --key or --sign/);
    assert.doesNotMatch(v.stderr, /--platform/);
  });

  it('names one that does not verify with the key given as not verified: it is there, and says its type unchecked', async () => {
    const dir = await workspace();
    const r = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', '--key', 'cosign.key', '--attestations', 'cosign'],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    const other = join(dir, 'other');
    await mkdir(other);
    assert.equal((await provenant(['generate-key-pair'], { cwd: other, env })).status, 0);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'slsaprovenance1', '--key', 'other/cosign.pub'], {
      cwd: dir,
      env,
    });
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, new RegExp(`; found: ${VULN_RE} \\(not verified\\)\n`));
    assert.match(v.stderr, /leave it out to verify every type and see why those not verified fail/);
    assert.doesNotMatch(v.stderr, /--platform/);
    // Left out: the verification says why.
    const all = await provenant(['verify-attestation', 'oci:layout:latest', '--key', 'other/cosign.pub'], { cwd: dir, env });
    assert.equal(all.status, 5, all.stderr);
    assert.match(all.stderr, /FAIL attestation .*wrong-key/);
  });
});

describe('verify-attestation --type that matches none, in a registry', { skip: registryMissing }, () => {
  const { push } = useRegistryWithExample();

  it('an index with only an unsigned attestation of another type (referrers): found (unsigned), no --platform hint', async () => {
    const dir = await workspace();
    const ref = await push('acme/found-unsigned:v1');
    const r = await provenant(['attest', ref, '--predicate', 'vuln.json', '--type', 'vuln'], { cwd: dir, env });
    assert.equal(r.status, 0, r.stderr);
    const v = await provenant(['verify-attestation', ref, '--type', 'slsaprovenance1', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, new RegExp(`; found: ${VULN_RE} \\(unsigned\\)\n`));
    assert.doesNotMatch(v.stderr, /--platform/);
  });
});

describe('attest --replace', () => {
  const attest = (dir: string, file: string, type: string, mode: string, ...more: string[]) =>
    provenant(['attest', 'oci:layout:latest', '--predicate', file, '--type', type, '--attestations', mode, ...more], { cwd: dir, env });
  const scans = async (dir: string): Promise<void> => {
    for (const n of [1, 2, 3]) {
      await writeFile(join(dir, `scan${n}.json`), JSON.stringify({ scanner: { uri: `scan${n}`, version: '1' }, metadata: {} }));
    }
    await writeFile(join(dir, 'note.txt'), 'hello');
  };

  it('cosign: takes the attestations of the type out of the .att tag as the new one goes in; others stay', async () => {
    const dir = await workspace();
    await scans(dir);
    for (const [file, type] of [
      ['scan1.json', 'vuln'],
      ['scan2.json', 'vuln'],
      ['note.txt', 'custom'],
    ]) {
      const r = await attest(dir, file as string, type as string, 'cosign', '--key', 'cosign.key');
      assert.equal(r.status, 0, r.stderr);
    }
    const { index, images } = await digests(dir);
    const kinds = async (d: Digest) =>
      (await statementsOf(dir, d)).map((s) =>
        s.predicateType === VULN ? (s.predicate as { scanner: { uri: string } }).scanner.uri : s.predicateType,
      );
    assert.deepEqual(await kinds(index), ['scan1', 'scan2', 'https://cosign.sigstore.dev/attestation/v1']);
    const r = await attest(dir, 'scan3.json', 'vuln', 'cosign', '--key', 'cosign.key', '--replace');
    assert.equal(r.status, 0, r.stderr);
    // Two of the type on the index and on each of its two images.
    assert.match(r.stdout, new RegExp(`replaced 6 attestation\\(s\\) of ${VULN} that were there`));
    for (const d of [index, ...images]) assert.deepEqual(await kinds(d), ['https://cosign.sigstore.dev/attestation/v1', 'scan3'], d);
    // The same statement again: still one of the type (signed anew, as cosign does).
    const again = await attest(dir, 'scan3.json', 'vuln', 'cosign', '--key', 'cosign.key', '--replace');
    assert.equal(again.status, 0, again.stderr);
    for (const d of [index, ...images]) assert.deepEqual(await kinds(d), ['https://cosign.sigstore.dev/attestation/v1', 'scan3'], d);
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'vuln', '--key', 'cosign.pub'], { cwd: dir, env });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /1 of 1 attestations verified/);
  });

  it('buildkit: takes the statements of the type out of the attestation manifests in the index', async () => {
    const dir = await workspace();
    await scans(dir);
    for (const file of ['scan1.json', 'scan2.json']) assert.equal((await attest(dir, file, 'vuln', 'buildkit')).status, 0);
    assert.equal((await attest(dir, 'note.txt', 'custom', 'buildkit')).status, 0);
    const layers = async (): Promise<string[][]> => {
      const store = await LayoutStore.open(join(dir, 'layout'));
      try {
        const root = await store.getManifest('latest');
        const out: string[][] = [];
        for (const e of root.kind === 'index' ? root.index.manifests : []) {
          if (e.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') continue;
          const m = await store.getManifest(e.digest);
          out.push(m.kind === 'manifest' ? m.manifest.layers.map((l) => l.annotations?.['in-toto.io/predicate-type'] ?? '') : []);
        }
        return out;
      } finally {
        await store.close();
      }
    };
    const custom = 'https://cosign.sigstore.dev/attestation/v1';
    assert.deepEqual(await layers(), [
      [VULN, VULN, custom],
      [VULN, VULN, custom],
    ]);
    const r = await attest(dir, 'scan3.json', 'vuln', 'buildkit', '--replace');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await layers(), [
      [custom, VULN],
      [custom, VULN],
    ]);
  });

  it('referrers: a referrer pushed cannot be taken out; a warning counts those that stay', async () => {
    const dir = await workspace();
    await scans(dir);
    assert.equal((await attest(dir, 'scan1.json', 'vuln', 'referrers', '--key', 'cosign.key')).status, 0);
    const r = await attest(dir, 'scan2.json', 'vuln', 'referrers', '--key', 'cosign.key', '--replace');
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`warning: --replace cannot take out the 3 attestation\\(s\\) of ${VULN} already there as OCI referrers`),
    );
    const { index } = await digests(dir);
    assert.equal((await statementsOf(dir, index)).length, 2);
    // Nothing of the type there: nothing to say.
    const fresh = await workspace();
    await scans(fresh);
    const quiet = await attest(fresh, 'scan1.json', 'vuln', 'referrers', '--key', 'cosign.key', '--replace');
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /--replace/);
  });
});

describe('an SPDX document attested as text (--type spdx), read back', () => {
  // Spaced as a file on disk is, not as JSON.stringify writes it: printed back byte for byte.
  const JSON_SPDX = `{
  "spdxVersion": "SPDX-2.3",
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "hello",
  "documentDescribes": ["SPDXRef-image"],
  "packages": [
    { "SPDXID": "SPDXRef-image", "name": "image", "primaryPackagePurpose": "CONTAINER" },
    { "SPDXID": "SPDXRef-hello", "name": "hello", "versionInfo": "2.12-r0", "primaryPackagePurpose": "LIBRARY" }
  ]
}
`;

  it('sbom prints the text as attested (tag-value or JSON); report and inspect read a JSON one as its document', async () => {
    for (const [file, text] of [
      ['sbom.spdx', TAG_VALUE],
      ['sbom.spdx.json', JSON_SPDX],
    ] as const) {
      const dir = await workspace();
      await writeFile(join(dir, file), text);
      const a = await provenant(
        ['attest', 'oci:layout:latest', '--predicate', file, '--type', 'spdx', '--key', 'cosign.key', '--attestations', 'cosign'],
        { cwd: dir, env },
      );
      assert.equal(a.status, 0, a.stderr);
      const s = await provenant(['sbom', 'oci:layout:latest'], { cwd: dir, env });
      assert.equal(s.status, 0, s.stderr);
      assert.equal(s.stdout, text, file);
      if (text !== JSON_SPDX) continue;
      const r = await provenant(['report', 'oci:layout:latest', '--format', 'json', '--target', 'none'], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
      const data = JSON.parse(r.stdout) as { platforms: { sbom: { source: string; packages: { name: string; version: string }[] } }[] };
      assert.deepEqual(
        data.platforms.map((p) => [p.sbom.source, p.sbom.packages.map((x) => `${x.name} ${x.version}`)]),
        [
          ['attached', ['hello 2.12-r0']],
          ['attached', ['hello 2.12-r0']],
        ],
      );
      const i = await provenant(['inspect', 'oci:layout:latest', '--format', 'json'], { cwd: dir, env });
      assert.equal(i.status, 0, i.stderr);
      const sboms = Object.values((JSON.parse(i.stdout) as { SBOM: Record<string, { SPDX: unknown }> }).SBOM);
      assert.equal(sboms.length, 2);
      for (const x of sboms) assert.deepEqual(x.SPDX, JSON.parse(JSON_SPDX));
    }
  });

  it('in BuildKit storage a JSON document is stored as its object, as BuildKit writes SPDX; tag-value stays text', async () => {
    const dir = await workspace();
    await writeFile(join(dir, 'sbom.spdx.json'), JSON_SPDX);
    await writeFile(join(dir, 'sbom.spdx'), TAG_VALUE);
    const predicates = async (): Promise<unknown[]> => {
      const store = await LayoutStore.open(join(dir, 'layout'));
      try {
        const root = await store.getManifest('latest');
        const out: unknown[] = [];
        for (const e of root.kind === 'index' ? root.index.manifests : []) {
          if (e.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest') continue;
          const m = await store.getManifest(e.digest);
          for (const l of m.kind === 'manifest' ? m.manifest.layers : []) {
            const bytes = await collect(await store.readBlob(l), 1 << 20, l.digest);
            out.push((JSON.parse(Buffer.from(bytes).toString('utf8')) as { predicate: unknown }).predicate);
          }
        }
        return out;
      } finally {
        await store.close();
      }
    };
    for (const file of ['sbom.spdx.json', 'sbom.spdx']) {
      const r = await provenant(['attest', 'oci:layout:latest', '--predicate', file, '--type', 'spdx', '--attestations', 'buildkit'], {
        cwd: dir,
        env,
      });
      assert.equal(r.status, 0, r.stderr);
    }
    const object = JSON.parse(JSON_SPDX) as unknown;
    assert.deepEqual(await predicates(), [object, TAG_VALUE, object, TAG_VALUE]);
    // Cosign's storages keep cosign's form: the text.
    const c = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'sbom.spdx.json', '--type', 'spdx', '--key', 'cosign.key', '--attestations', 'cosign'],
      { cwd: dir, env },
    );
    assert.equal(c.status, 0, c.stderr);
    const { images } = await digests(dir);
    assert.deepEqual(
      (await statementsOf(dir, images[0] as Digest)).map((s) => s.predicate),
      [JSON_SPDX],
    );
  });
});

describe('attest --replace and an attestation it cannot read', () => {
  it('fails naming the layer, with nothing written, as cosign does (a missing blob is not judged by its annotation)', async () => {
    const dir = await workspace();
    const attest = (...more: string[]) =>
      provenant(
        [
          'attest',
          'oci:layout:latest',
          '--predicate',
          'vuln.json',
          '--type',
          'vuln',
          '--key',
          'cosign.key',
          '--attestations',
          'cosign',
          ...more,
        ],
        {
          cwd: dir,
          env,
        },
      );
    assert.equal((await attest()).status, 0);
    const { index, images } = await digests(dir);
    const tags = [index, ...images].map((d) => `sha256-${d.slice(7)}.att`);
    const attTags = async (): Promise<(string | undefined)[]> => {
      const store = await LayoutStore.open(join(dir, 'layout'));
      try {
        return await Promise.all(tags.map(async (t) => (await store.resolve(t))?.digest));
      } finally {
        await store.close();
      }
    };
    const before = await attTags();
    // The second platform image's attestation loses its blob.
    const store = await LayoutStore.open(join(dir, 'layout'));
    const att = await store.getManifest(tags[2] as string);
    await store.close();
    const layer = att.kind === 'manifest' ? att.manifest.layers[0]?.digest : undefined;
    assert.ok(layer !== undefined);
    await rm(join(dir, 'layout', 'blobs', 'sha256', layer.slice(7)));
    const r = await attest('--replace');
    assert.equal(r.status, 3, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`--replace cannot read the attestation ${layer} of ${tags[2]}, so cannot tell whether to replace it`),
    );
    assert.match(r.stderr, /nothing was written/);
    assert.deepEqual(await attTags(), before);
  });
});

describe('attest --replace judges a layer by its statement, as cosign does', () => {
  const CUSTOM = 'https://cosign.sigstore.dev/attestation/v1';
  const attest = (dir: string, type: string, ...more: string[]) =>
    provenant(
      [
        'attest',
        'oci:layout:latest',
        '--predicate',
        'vuln.json',
        '--type',
        type,
        '--key',
        'cosign.key',
        '--attestations',
        'cosign',
        ...more,
      ],
      { cwd: dir, env },
    );
  /** Rewrites the index's `.att` manifest through `change`, under its tag. */
  const craft = async (dir: string, index: Digest, change: (layers: Record<string, unknown>[]) => void): Promise<void> => {
    const store = await LayoutStore.open(join(dir, 'layout'));
    try {
      const tag = `sha256-${index.slice(7)}.att`;
      const att = await store.getManifest(tag);
      assert.equal(att.kind, 'manifest');
      const manifest = structuredClone(att.kind === 'manifest' ? att.manifest : undefined) as unknown as {
        layers: Record<string, unknown>[];
      };
      change(manifest.layers);
      await store.putManifest(parseStored(new TextEncoder().encode(JSON.stringify(manifest))), { tags: [tag] });
    } finally {
      await store.close();
    }
  };

  it('a layer annotated custom that holds a vuln statement stays on --replace --type custom', async () => {
    const dir = await workspace();
    assert.equal((await attest(dir, 'vuln')).status, 0);
    const { index } = await digests(dir);
    await craft(dir, index, (layers) => {
      for (const l of layers) l.annotations = { ...(l.annotations as object), predicateType: CUSTOM };
    });
    const r = await attest(dir, 'custom', '--replace');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((await statementsOf(dir, index)).map((s) => s.predicateType).sort(), [CUSTOM, VULN].sort());
  });

  it("verify-attestation's found: reads that layer's type from its statement too, as cosign lists what it checked", async () => {
    const dir = await workspace();
    assert.equal((await attest(dir, 'vuln')).status, 0);
    const { index } = await digests(dir);
    await craft(dir, index, (layers) => {
      for (const l of layers) l.annotations = { ...(l.annotations as object), predicateType: CUSTOM };
    });
    const v = await provenant(['verify-attestation', 'oci:layout:latest', '--type', 'slsaprovenance1', '--key', 'cosign.pub'], {
      cwd: dir,
      env,
    });
    assert.equal(v.status, 5, v.stderr);
    assert.match(v.stderr, new RegExp(`; found: ${VULN.replaceAll('.', '\\.')}\n`));
  });

  it('a layer whose statement has no predicateType fails --replace naming it, as cosign ReplaceOp fails', async () => {
    const dir = await workspace();
    assert.equal((await attest(dir, 'vuln')).status, 0);
    const { index } = await digests(dir);
    const statement = {
      _type: 'https://in-toto.io/Statement/v0.1',
      subject: [{ name: 'x', digest: { sha256: index.slice(7) } }],
      predicate: {},
    };
    const envelope = new TextEncoder().encode(
      JSON.stringify({
        payloadType: 'application/vnd.in-toto+json',
        payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
        signatures: [],
      }),
    );
    const digest = digestOf(envelope);
    await writeFile(join(dir, 'layout', 'blobs', 'sha256', digest.slice(7)), envelope);
    await craft(dir, index, (layers) => {
      layers.push({
        mediaType: 'application/vnd.dsse.envelope.v1+json',
        digest,
        size: envelope.length,
        annotations: { predicateType: VULN },
      });
    });
    const r = await attest(dir, 'vuln', '--replace');
    assert.equal(r.status, 5, r.stderr);
    assert.doesNotMatch(r.stderr, /missing blob/);
    assert.match(
      r.stderr,
      new RegExp(
        `--replace cannot read the attestation ${digest} of sha256-${index.slice(7)}\\.att, so cannot tell whether to replace it: its statement has no predicateType`,
      ),
    );
  });
});

describe('attest --platform: one platform build its own predicate, as cosign attests the digest named', () => {
  const SLSA1 = 'https://slsa.dev/provenance/v1';
  /** prov.json, an amd64 build's provenance (its materials are not the arm64 image's). */
  async function provenanceFile(dir: string): Promise<void> {
    await writeFile(
      join(dir, 'prov.json'),
      JSON.stringify({
        buildDefinition: { buildType: 'https://example.org/build', externalParameters: { platform: 'linux/amd64' } },
        runDetails: { builder: { id: 'https://example.org/builder' } },
      }),
    );
  }

  for (const mode of ['referrers', 'cosign'] as const) {
    it(`${mode}: only that platform's image gets the statement, neither the index nor the other platform, and no warning`, async () => {
      const dir = await workspace();
      await provenanceFile(dir);
      const r = await provenant(
        [
          'attest',
          'oci:layout:latest',
          '--platform',
          'linux/amd64',
          '--predicate',
          'prov.json',
          '--type',
          'slsaprovenance1',
          '--key',
          'cosign.key',
          '--attestations',
          mode,
        ],
        { cwd: dir, env },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`attached ${SLSA1} to the linux/amd64 image of oci:layout:latest`));
      assert.doesNotMatch(r.stderr, /warning/);
      const { index, images } = await digests(dir);
      const [amd64, arm64] = images as [Digest, Digest];
      assert.deepEqual(
        (await statementsOf(dir, amd64)).map((s) => s.predicateType),
        [SLSA1],
      );
      assert.deepEqual(await statementsOf(dir, arm64), []);
      assert.deepEqual(await statementsOf(dir, index), []);
    });
  }

  it('buildkit: the index gets an attestation entry for that platform image only', async () => {
    const dir = await workspace();
    await provenanceFile(dir);
    const r = await provenant(
      [
        'attest',
        'oci:layout:latest',
        '--platform',
        'linux/arm64',
        '--predicate',
        'prov.json',
        '--type',
        'slsaprovenance1',
        '--attestations',
        'buildkit',
      ],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    const { images } = await digests(dir);
    const store = await LayoutStore.open(join(dir, 'layout'));
    try {
      const root = await store.getManifest('latest');
      const about = (root.kind === 'index' ? root.index.manifests : [])
        .filter((e) => e.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')
        .map((e) => e.annotations?.['vnd.docker.reference.digest']);
      assert.deepEqual(about, [images[1]]);
    } finally {
      await store.close();
    }
  });

  it('a platform the index lacks: exit 3 naming its platforms, nothing written', async () => {
    const dir = await workspace();
    await provenanceFile(dir);
    const before = await digests(dir);
    const r = await provenant(
      [
        'attest',
        'oci:layout:latest',
        '--platform',
        'linux/s390x',
        '--predicate',
        'prov.json',
        '--type',
        'slsaprovenance1',
        '--key',
        'cosign.key',
      ],
      { cwd: dir, env },
    );
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /no linux\/s390x manifest[\s\S]*linux\/amd64, linux\/arm64/);
    assert.deepEqual(await digests(dir), before);
    for (const d of [before.index, ...before.images]) assert.deepEqual(await statementsOf(dir, d), [], d);
  });

  it('without --platform a one-build predicate type warns that every platform gets the same; another type does not', async () => {
    const dir = await workspace();
    await provenanceFile(dir);
    for (const [type, file] of [
      ['slsaprovenance1', 'prov.json'],
      ['slsaprovenance', 'prov.json'],
      ['spdxjson', 'prov.json'],
      ['cyclonedx', 'prov.json'],
      ['vuln', 'vuln.json'],
    ] as const) {
      const r = await provenant(['attest', 'oci:layout:latest', '--predicate', file, '--type', type], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /same .* predicate is stated about each of the 2 platform images[\s\S]*--platform/, type);
    }
    for (const type of ['link', 'custom']) {
      const r = await provenant(['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', type], { cwd: dir, env });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /--platform/, type);
    }
  });
});

describe('attest --platform in a registry', { skip: registryMissing }, () => {
  const { push } = useRegistryWithExample();

  it("the tag's index and the other platform get nothing; verify-attestation of that platform passes, of the other fails", async () => {
    const dir = await workspace();
    await writeFile(join(dir, 'prov.json'), JSON.stringify({ buildDefinition: { buildType: 'https://example.org/build' } }));
    const ref = await push('team/app:v1');
    const r = await provenant(
      ['attest', ref, '--platform', 'linux/amd64', '--predicate', 'prov.json', '--type', 'slsaprovenance1', '--key', 'cosign.key'],
      { cwd: dir, env },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /to the linux\/amd64 image of /);
    const verify = (...extra: string[]) =>
      provenant(['verify-attestation', ref, ...extra, '--type', 'slsaprovenance1', '--key', 'cosign.pub'], { cwd: dir, env });
    const amd64 = await verify('--platform', 'linux/amd64');
    assert.equal(amd64.status, 0, amd64.stderr);
    for (const extra of [['--platform', 'linux/arm64'], []]) {
      const v = await verify(...extra);
      assert.notEqual(v.status, 0, `${extra.join(' ')}: ${v.stdout}`);
    }
  });
});
