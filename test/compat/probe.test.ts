/**
 * The referrers probe against the real registry (distribution 2.8: no referrers API) and, for the
 * answers it cannot give, a tiny local server: 200 with an empty index (an API), an OCI-Subject
 * header on push without an API (not proof), a 200 that is not an index, and a refusal.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ArtifactType } from '../../src/attest/attachments.ts';
import { checkImage } from '../../src/compat/check.ts';
import { fixImage } from '../../src/compat/fix.ts';
import { probeReferrersApi, ZERO_DIGEST } from '../../src/compat/probe.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage, makeReferrer } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { FAST_RETRY, storeAt } from '../registry/common.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ host: string; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
        return;
      }
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { host: `127.0.0.1:${port}`, paths, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const EMPTY_INDEX = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });

describe('the referrers probe against a small server', () => {
  it('finds an API when GET /v2/<name>/referrers/<zero digest> answers 200 with an OCI index', async () => {
    const srv = await serve((req, res) => {
      if (req.url === `/v2/app/referrers/${ZERO_DIGEST}`) res.writeHead(200, { 'content-type': MediaType.OciIndex }).end(EMPTY_INDEX);
      else res.writeHead(404).end();
    });
    after(() => srv.close());
    const probe = await probeReferrersApi(new RegistryClient(srv.host, { retry: FAST_RETRY }), 'app');
    assert.equal(probe.api, 'present');
    assert.equal(probe.status, 200);
    assert.equal(probe.contentType, MediaType.OciIndex);
    assert.match(probe.detail, /answered 200 \(application\/vnd\.oci\.image\.index\.v1\+json\) with an OCI index/);
    assert.ok(srv.paths.includes(`GET /v2/app/referrers/${ZERO_DIGEST}`));
  });

  it('does not take OCI-Subject on a push as proof: a 404 from the API is no API', async () => {
    const srv = await serve((req, res) => {
      if (req.method === 'PUT' && req.url?.startsWith('/v2/app/manifests/')) {
        res.writeHead(201, { 'oci-subject': 'sha256:aa', 'docker-content-digest': req.url.split('/').pop() ?? '' }).end();
      } else res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    });
    after(() => srv.close());
    const client = new RegistryClient(srv.host, { retry: FAST_RETRY });
    const manifest = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciEmpty, digest: `sha256:${'4'.repeat(64)}`, size: 2 },
        layers: [{ mediaType: 'application/vnd.example', digest: `sha256:${'5'.repeat(64)}`, size: 1 }],
        subject: { mediaType: MediaType.OciManifest, digest: `sha256:${'6'.repeat(64)}`, size: 1 },
      }),
    );
    const put = await client.putManifest('app', manifest.digest, manifest);
    assert.equal(put.subjectProcessed, true, 'the server claims to process subjects');
    const probe = await probeReferrersApi(new RegistryClient(srv.host, { retry: FAST_RETRY }), 'app');
    assert.equal(probe.api, 'absent');
    assert.equal(probe.status, 404);
    assert.equal(probe.contentType, 'application/json');
    assert.match(probe.detail, /answered 404 \(application\/json\) \(no referrers API\)/);
  });

  it('does not take a 200 that is not an OCI index as an API', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>welcome</html>');
    });
    after(() => srv.close());
    const probe = await probeReferrersApi(new RegistryClient(srv.host, { retry: FAST_RETRY }), 'app');
    assert.equal(probe.api, 'absent');
    assert.equal(probe.status, 200);
    assert.equal(probe.contentType, 'text/html');
    assert.match(probe.detail, /answered 200 \(text\/html\), not an OCI index/);
  });

  it('does not take an index served as another type as an API, and says which type', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(EMPTY_INDEX);
    });
    after(() => srv.close());
    const probe = await probeReferrersApi(new RegistryClient(srv.host, { retry: FAST_RETRY }), 'app');
    assert.equal(probe.api, 'absent');
    assert.match(probe.detail, /answered 200 \(application\/json\), not an OCI index/);
  });

  it('says it does not know when the registry refuses to answer', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"no"}]}');
    });
    after(() => srv.close());
    const probe = await probeReferrersApi(new RegistryClient(srv.host, { retry: FAST_RETRY }), 'app');
    assert.equal(probe.api, 'unknown');
    assert.match(probe.detail, /not known/);
  });
});

describe('the referrers probe against distribution 2.8', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('reports no referrers API', async () => {
    const probe = await probeReferrersApi(new RegistryClient(reg.host, { retry: FAST_RETRY }), 'probe/none');
    assert.equal(probe.api, 'absent');
    assert.equal(probe.status, 404, 'distribution 2.8 answers 404 for the referrers path');
    assert.match(probe.detail, /answered 404 .*no referrers API/);
  });

  it('check of an image held there takes the live answer where the profile does not know, and says which registry it is about', async () => {
    const store = storeAt(reg.host, 'probe/image');
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await makeReferrer(store, made.manifests[0]!, ArtifactType.BuildkitAttestation, 'statement');
    const profiles = await loadProfiles();
    // Alibaba's profile does not know; ACR's says it has the API, and the registry holding the
    // image, which is not ACR, does not: its answer is about that registry, not ACR.
    const report = await checkImage(store, 'v1', selectTargets(profiles, 'alibaba-acr,azure-acr,aws-lambda'));
    assert.equal(report.probe?.api, 'absent');
    const [alibaba, acr, lambda] = report.targets;
    assert.equal(alibaba!.referrersApi?.source, 'probe');
    assert.equal(alibaba!.referrersApi?.value, 'absent');
    assert.match(alibaba!.referrersApi?.detail ?? '', new RegExp(`probed at ${reg.host}, where the image is, taken for alibaba-acr`));
    const problem = alibaba!.problems.find((p) => p.rule === 'referrers-api');
    assert.ok(problem !== undefined);
    assert.match(problem.findings[0]!.detail, /referrers tag schema/);
    assert.equal(acr!.referrersApi?.source, 'profile');
    assert.equal(acr!.referrersApi?.value, 'present');
    assert.match(
      acr!.referrersApi?.detail ?? '',
      new RegExp(`the probe of ${reg.host}, where the image is, says absent, which is not taken for azure-acr`),
    );
    assert.equal(
      acr!.problems.find((p) => p.rule === 'referrers-api'),
      undefined,
      'the registry probed is not ACR',
    );
    assert.equal(lambda!.referrersApi, undefined, 'runtimes have no referrers API to probe');
    const noProbe = await checkImage(store, 'v1', selectTargets(profiles, 'alibaba-acr'), { probe: false });
    assert.equal(noProbe.probe, undefined);
    assert.equal(noProbe.targets[0]!.referrersApi?.value, 'unknown');
  });
});

describe('fix probes its destination, the target registry', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it("takes the destination's referrers API (none, distribution 2.8) for the target's, over the profile's fact", async () => {
    const src = await LayoutStore.open(await mkdtemp(join(tmpdir(), 'probe-fix-')), { create: true });
    const made = await makeImage(src, { tag: '1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await makeReferrer(src, made.manifests[0]!, ArtifactType.BuildkitAttestation, 'statement');
    // amazon-ecr's profile says present; the destination, where the fix writes for ECR, has none.
    const ecr = selectTargets(await loadProfiles(), 'amazon-ecr')[0]!;
    const report = await fixImage(src, '1', storeAt(reg.host, 'probe/fixed'), ecr, { tags: ['fixed'] });
    assert.deepEqual(
      [report.before.referrersApi?.value, report.before.referrersApi?.source],
      ['absent', 'probe'],
      JSON.stringify(report.before.referrersApi),
    );
    // So the profile's referrers-api rule speaks, as its text says it does for a fix's destination.
    assert.ok(
      report.before.problems.some((p) => p.rule === 'referrers-api'),
      report.before.problems.map((p) => p.rule).join(', '),
    );
  });
});
