/**
 * The Action's `digest`, `imageid` and `metadata` outputs, shaped as docker/build-push-action's
 * (which passes on buildx's `--metadata-file`), so steps written for one read the other:
 * `containerimage.digest`, `containerimage.descriptor`, `containerimage.config.digest` (one
 * platform), `image.name` (the names written, the fixed images' too, comma-separated) and the SLSA provenance predicate
 * under `buildx.build.provenance` (one platform) or `buildx.build.provenance/<os/arch>` (several).
 */
import { SLSA_V1, SLSA_V02 } from '../attest/provenance.ts';
import { formatPlatform } from '../oci/platform.ts';
import type { ActionOutcome } from './run.ts';

/** The three outputs build-push-action has, as strings. */
export interface ActionOutputs {
  digest: string;
  /** The config digest for one platform (Docker's image id), else the index digest, as buildx's `--iidfile` holds. */
  imageid: string;
  /** JSON. */
  metadata: string;
}

/** The outputs of a run. */
export function actionOutputs(outcome: ActionOutcome): ActionOutputs {
  const images = outcome.result.images;
  const single = images.length === 1 ? images[0] : undefined;
  const d = outcome.descriptor;
  const metadata: Record<string, unknown> = {};
  const provenance = provenancePredicates(outcome);
  if (single !== undefined && provenance.length === 1) metadata['buildx.build.provenance'] = provenance[0]!.predicate;
  else for (const p of provenance) metadata[`buildx.build.provenance/${p.platform}`] = p.predicate;
  if (single !== undefined) metadata['containerimage.config.digest'] = single.config.descriptor.digest;
  metadata['containerimage.descriptor'] = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  metadata['containerimage.digest'] = d.digest;
  // Every name written, the fixed images' (`1.0-aws-lambda`) too: each is an image of this build.
  metadata['image.name'] = [...outcome.destinations.flatMap((x) => x.names), ...outcome.fixes.flatMap((f) => f.names)].join(',');
  return {
    digest: d.digest,
    imageid: single !== undefined ? single.config.descriptor.digest : d.digest,
    metadata: JSON.stringify(metadata, null, 2),
  };
}

/** Each platform's SLSA provenance predicate, from the statements the run wrote. */
function provenancePredicates(outcome: ActionOutcome): { platform: string; predicate: unknown }[] {
  const out: { platform: string; predicate: unknown }[] = [];
  for (const image of outcome.result.images) {
    const a = outcome.attested.find((x) => x.manifest.digest === image.manifest.digest);
    const s = a?.statements.find((x) => x.predicateType === SLSA_V1 || x.predicateType === SLSA_V02);
    if (s === undefined) continue;
    const doc = JSON.parse(new TextDecoder().decode(s.bytes)) as { predicate?: unknown };
    out.push({ platform: formatPlatform(image.platform), predicate: doc.predicate });
  }
  return out;
}
