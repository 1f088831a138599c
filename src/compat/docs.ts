/**
 * docs/targets.md, made from the profiles (scripts/targets-doc.ts writes it; a test fails when
 * the file is stale). Everything a user reads about a target comes from its data file.
 */
import { DETECTORS } from './detectors.ts';
import { MAX_DOCUMENTS, MAX_NESTING } from './graph.ts';
import { DETECTOR_PARAMS, FIX_PARAMS, type FixId, type ParamSpec, type Params } from './params.ts';
import { CERTAINTIES, type Certainty, type FixSpec, type Profile, type Rule, SEVERITIES, type Severity } from './profile.ts';

const SEVERITY_TEXT: Record<Severity, string> = {
  refuses: 'A push, pull, deploy or run fails. `check` exits with the refusal code.',
  misdisplays:
    'It works, but a console, UI or API shows it wrongly (untagged rows, `unknown/unknown` platforms, an unsigned mark). A warning.',
  unsupported:
    'A feature the image relies on is missing, or works only for some clients (no referrers API: attachments only through the tag fallback). A warning.',
};

const CERTAINTY_TEXT: Record<Certainty, string> = {
  tested: 'Provenant’s own tests observe it (against the registry in `test/helpers/registry.ts`).',
  documented: 'The vendor’s documentation says so.',
  reported: 'Users reported it, with this error, in the cited public threads; the threads were read when the rule was written.',
  inferred: 'Read from code, documentation or version history; not observed.',
  unverified: 'From the research notes; not checked against a source. Verify before relying on it.',
};

const FIX_TEXT: Record<FixId, string> = {
  'single-manifest':
    'Writes one platform’s manifest as the image itself (the platform asked for, else the target’s first that the image has). That manifest is unchanged, so its digest and signatures stay; its attestations move out of the index; other platforms are left out, and the account lists them.',
  'move-attestations':
    'Takes attestations out of the image index (BuildKit’s `unknown/unknown` entries, legacy or 0.32 OCI-artifact form) and stores them as OCI referrers of their image (pushed after it) or under cosign’s `sha256-<hex>.att` tag. Their in-toto layers are unchanged. An entry that names no subject the fixed image carries (a subject-less SBOM listed under `linux/""`) has nowhere to be attached and is left out; the account names it, with why.',
  'docker-media-types':
    'Rewrites the image with Docker schema 2 media types: manifests, manifest list, config types; gzip layers keep their bytes, zstd and uncompressed layers are recompressed. Attestations in the index, and OCI referrers, move to cosign’s `sha256-<hex>.att` tags first (schema 2 has no place for them) with their layers as they were: BuildKit’s statements stay unsigned `application/vnd.in-toto+json` layers, which Provenant reads, not the DSSE envelopes cosign writes there (a cosign 3 bundle does go there as cosign 2’s DSSE layer). Statements that name a manifest the fix replaced are left out; those that name no subject (`subject: []`, as BuildKit’s OCI exporter writes for an image without a name) follow their image.',
  'gzip-layers':
    'Recompresses the named layers with gzip (pinned compressor: the same input gives the same bytes). The files, diff_ids and config are unchanged; the manifest changes. A zstd layer that unpacks to more than 1000 times its size (or 256 MiB, for a small one) is refused, not recompressed.',
  'set-artifact-type': 'Gives each referrer without an `artifactType` its config’s media type as one (the OCI rule for listing referrers).',
};

function code(text: string): string {
  const ticks = text.includes('`') ? '``' : '`';
  const pad = text.includes('`') ? ' ' : '';
  return `${ticks}${pad}${text}${pad}${ticks}`;
}

function paramText(params: Params): string {
  const parts = Object.entries(params)
    .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`);
  return parts.length === 0 ? '' : ` (${parts.join('; ')})`;
}

/** A fix as profiles name it, with its parameters: `single-manifest (attestations: referrers)`. */
export function fixLabel(fix: FixSpec): string {
  return `${fix.id}${paramText(fix.with)}`;
}

function specText(specs: Readonly<Record<string, ParamSpec>>): string {
  const entries = Object.entries(specs);
  if (entries.length === 0) return 'none';
  return entries
    .map(([k, s]) => {
      const values = s.values ? ` (${s.values.map((v) => code(v)).join(', ')})` : '';
      const dflt =
        s.default !== undefined && !(Array.isArray(s.default) && s.default.length === 0)
          ? `; default ${code(Array.isArray(s.default) ? s.default.join(', ') : String(s.default))}`
          : '';
      return `${code(k)}${s.required ? ' (required)' : ''}: ${s.doc}${values}${dflt}`;
    })
    .join('<br>');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function ruleSection(rule: Rule): string[] {
  const lines = [`#### \`${rule.id}\`: ${rule.severity}`, ''];
  lines.push(`- **Detects:** ${code(rule.detect)}${paramText(rule.with)}: ${DETECTORS[rule.detect].describe(rule.with)}.`);
  if (rule.versions !== undefined) lines.push(`- **Versions:** ${code(rule.versions.text)}`);
  lines.push(`- **Error users see:** ${rule.error === undefined ? '(no error text recorded)' : code(rule.error)}`);
  lines.push(`- **Why:** ${rule.why}`);
  lines.push(
    `- **Fix:** ${rule.fix === undefined ? 'none: no change to the image satisfies it' : `${code(rule.fix.id)}${paramText(rule.fix.with)}`}`,
  );
  lines.push(`- **Certainty:** ${rule.certainty}${rule.status === undefined ? '' : `. **Status:** ${rule.status}`}`);
  lines.push(`- **Sources:** ${rule.sources.length === 0 ? '(none recorded)' : rule.sources.map((s) => `<${s}>`).join(', ')}`);
  lines.push('');
  return lines;
}

/** The part of docs/targets.md that explains check, fix, the severities and the profile format. */
function introLines(): string[] {
  return [
    '# Targets: what registries and runtimes refuse, and how `fix` satisfies them',
    '',
    '<!-- Generated by scripts/targets-doc.ts from src/compat/profiles/*.yaml. Edit the profiles, then run',
    '     `node scripts/targets-doc.ts`; a test fails when this file is out of date. -->',
    '',
    '`provenant check REF --target T[,T...]` reads an image’s manifests (never its layers, only their sizes',
    'from descriptors), runs every rule of every named target over them and reports each problem with its',
    'severity, the error the target gives, why, and the fix. `provenant fix REF --target T -o DST` makes the',
    'smallest change that satisfies the refusals and writes the result with a plain account of what changed;',
    'with `--all` it fixes the warnings that have a fix too (the command `check` prints under a warning has it).',
    '`provenant build CONFIG --target T` builds straight into that shape: the build is staged on this machine',
    'and checked, written as it is when `T` accepts it and through `fix` when `T` refuses it, so the',
    'destination is written once and holds only the accepted image. The build made its SBOMs and',
    'provenance itself: when the fix rewrites the platform images (`docker-media-types`), the build makes',
    'them again about the images written (the SBOMs name the digests written) and the fix attaches them',
    'where the target takes them (under cosign’s `.att` tags, in Docker media types), or, with `--sign`,',
    'the build signs them there; `fix` of an image it did not build leaves them out, as below.',
    '',
    'Each target is a data file in `src/compat/profiles/`. A rule names one detector from a fixed set, with',
    'parameters; adding a target is adding a file (`--profiles DIR` reads more from a folder, replacing',
    'built-in ones of the same id). The facts come from public reports gathered in',
    '2026-12 (research notes, “verify before relying”) and the threads they cite, several of which were',
    're-read while writing the profiles; each rule says how certain it is.',
    '',
    '## Severities and exit codes',
    '',
    '| Severity | Meaning |',
    '|---|---|',
    ...SEVERITIES.map((s) => `| \`${s}\` | ${SEVERITY_TEXT[s]} |`),
    '',
    'Exit codes of `check` (and `fix`, `build --target`):',
    '',
    '- **0**: every target accepts the image. Problems that only misdisplay or lack a feature are printed as',
    '  warnings and do not change the code.',
    '- **7**: at least one target refuses it.',
    '- Errors keep the codes they have everywhere else (1 other, 2 usage, 3 not found, 4 auth, 5 integrity, 6 network).',
    '',
    '`fix` exits 0 when it wrote an image the target accepts, and 7 when the target would still refuse the',
    'result: a refusal has no fix, or the fixes leave a refusal standing. The fixed image is checked before',
    'anything is written, so then nothing is written (unless `--force`: written, still exit 7), and the account',
    'says which rules still refuse it and what they found. That check sees the image as it would be at the',
    'destination, with the referrers and cosign tags the destination already holds of its digests: a copy adds',
    'to them and `fix` deletes nothing it was not asked to change. Fixing an index into the repository it is',
    'read from, the source’s own attachments are there (for ECR, a signature referrer of the index), so nothing',
    'is written, the report’s `heldAtDestination` names them, and the hint says to write to another repository.',
    'The written image is checked again at the destination.',
    '',
    'A `docker-archive:FILE` destination keeps no manifest, only the config and layer files: read back (by',
    '`digest`, `copy`, `docker load`), it holds Docker schema 2 of its own, with another digest than the fixed',
    'image. The report (`--format json`) names the image by that digest, the one its readers find, as',
    '`destination.digest` (with `destination.mediaType`), and gives the fixed image’s own digest as',
    '`destination.fixed`, which is absent for every other destination; signatures of the fixed image do not',
    'cover the archive’s digest, and the archive keeps none. Read back, an uncompressed OCI layer is Docker’s',
    'plain tar type (`application/vnd.docker.image.rootfs.diff.tar`), and so it is pushed once `docker load`',
    'has taken it into containerd’s image store, which pushes layers as loaded: for a target that refuses',
    'that type (`uncompressed-docker-layer`, Lambda), `fix` into a docker-archive gzips such layers too',
    '(`gzip-layers` from `uncompressed`), which it leaves alone for any other destination. A docker-archive',
    'holds one platform’s image: an index goes in as the platform `--platform` names (`single-manifest`, as',
    '`crane pull --platform` writes one); without `--platform`, as the first of the target’s platforms (in',
    'its order) that the index has, else as this machine’s, as `copy` into a docker-archive takes. With',
    'neither there, the fix stops before reading anything more (exit 2), naming the platforms the index has.',
    '',
    '## Certainty',
    '',
    '| Certainty | Meaning |',
    '|---|---|',
    ...CERTAINTIES.map((c) => `| \`${c}\` | ${CERTAINTY_TEXT[c]} |`),
    '',
    '## Versions',
    '',
    'A target whose behaviour changed between versions has `versions: {assume: ...}` and rules with a',
    'version range. Name a version with `--target artifactory@6.23.38`; without one the profile’s assumed',
    'version is used and the report says so.',
    '',
    '## The referrers API, probed',
    '',
    'When the image is in a registry, `check` asks that registry as sigstore-js does',
    '(sigstore/sigstore-js#1183): `GET /v2/<name>/referrers/sha256:000…0` must answer 200 with an OCI index.',
    'A 404, 400 or 405, or a 200 that is not an index (sigstore/sigstore-js#1187 saw false 200s), means no',
    'referrers API. The `OCI-Subject` header on a push is not taken as proof: ECR sent it before it had the',
    'API. The answer is about the registry the image is in, which need not be the target’s (an image in a',
    'local registry checked for ECR): it is shown in the report, and taken for a registry target only where',
    'the profile does not know (a self-hosted registry named without its version, or no fact); where the',
    'profile knows, its fact stands, and an answer that differs is said as about the registry probed.',
    '`fix` probes the destination instead, when it is a registry.',
    '',
    '## Profile format',
    '',
    'A profile is YAML with these keys: `id` (the file name), `name`, `kind` (`registry` or `runtime`),',
    '`summary`, `platforms` (runtimes: the platforms run, in the order `fix` prefers them), `versions`',
    '(`assume`, `note`), `referrers-api` (`present`, `absent`, `unknown`, or a list of `{versions, value}`),',
    '`rules`, `history` (facts that no longer hold: `{text, sources}`) and `notes`. Each rule has `id`,',
    '`detect`, `with` (the detector’s parameters), `severity`, `error` (`null` when no text was recorded;',
    '`{image}`, `{digest}` and `{mediaType}` are filled in), `why`, `fix` (`null`, an id, or `{id, with}`),',
    '`certainty`, `status`, `versions` and `sources` (https URLs; empty only when `unverified`). Unknown',
    'keys and parameters are errors, reported as `file:line`.',
    '',
    '### Detectors',
    '',
    '| Detector | Parameters |',
    '|---|---|',
    ...Object.entries(DETECTOR_PARAMS).map(([name, specs]) => `| ${code(name)} | ${cell(specText(specs))} |`),
    '',
    '### Fixes',
    '',
    'Fixes run in this order, each a pure transform of the image’s manifests: `single-manifest`,',
    '`move-attestations`, `set-artifact-type`, `gzip-layers`, `docker-media-types`. The result is checked',
    'against the target, then written blobs first, then manifests (children before their index), referrers',
    'after their subject, tags last; then it is checked again there. A changed manifest changes the',
    'digest of what names it: an index lists the new digest, and an attachment is re-attached to it. An',
    'in-toto statement that names the old digest (of the index or of a platform image, such as BuildKit’s',
    'provenance when layers are recompressed) is not carried: a statement names its subject by digest and',
    'cannot be re-described without being signed again, so carried it would be about another image, and a',
    'signed one would fail verification there as about the wrong subject. It stays with the image as built;',
    'the account names the attestation it belongs to under “Not carried” (with how many of its statements,',
    'when some are carried), the report lists it in `statementsLeftOut`, and the Action warns. Statements are',
    'left out one by one: those that name no subject (BuildKit’s `subject: []`) follow their image, and under',
    'a cosign tag, where one manifest holds the layers of every attestation moved there, each is said as one',
    'of the attestation that brought it. An attestation left with no statement is not carried, and every',
    'index that listed it stops listing it. A signature of the old digest is not carried either (it stays',
    'valid for that digest only).',
    'With a key or identity the changed digests are signed again, before the tags are written (a signing',
    'failure leaves the fixed image there by digest, untagged, and says so); without one the account',
    'lists them as unsigned. The report (`--format json`) lists in `signing.moved` each of BuildKit’s',
    'attestations the fix moved out of the index, as `{"attestation", "about"}`: the manifest of the fixed',
    'image that holds its statements, and the manifest they are about. One whose layers were added to the',
    'manifest a cosign tag named already (cosign keeps one per tag) is moved too, not left out: it also has',
    '`merged`, its digest in the source; and `layers` lists its statements whenever that manifest holds',
    'others’ too. `signing.movedFromSigned`',
    'lists, of those manifests, the ones an index that listed them in the source was signed: its signature',
    'covered their statements, and moved, none does until they are signed again (`fix --key` or `--keyless`',
    'signs them as attestations of their image; without either, the account says “No signature covers …”',
    'of each). Moved out of an index nothing signed, they lost no signature, and the account says nothing',
    'of them.',
    '',
    'An entry of an index that the source store does not hold (a BuildKit export may leave attestation',
    'manifests out; `check` notes it and reads on) is not carried: there is nothing to copy, so every index',
    'stops listing it, which changes the index digest, and the account names it under “Not carried”.',
    '',
    'An index that lists indexes (index → index → manifests) is read down to its manifests, and the rules',
    `judge those. Indexes may nest ${MAX_NESTING} levels below the one named (an index it lists is level 1, and`,
    'an index listed at several levels counts at its deepest, whatever the order of the entries); `check`',
    'and `fix` stop with an error (exit 1) that names an index nested deeper, rather than judge an image',
    'they have not read. Each index and manifest is read once however many indexes list it (a manifest',
    `listed under two platforms is judged for each), and at most ${MAX_DOCUMENTS.toLocaleString('en-US')} are read. \`single-manifest\`,`,
    '`move-attestations` and `gzip-layers` work through the nesting: a changed manifest changes each',
    'index above it. Each index is rewritten once, after the indexes it lists and with all its changes,',
    'however many indexes share it, so the work grows with the number of entries. `docker-media-types` refuses',
    'such an image with exit 7 and writes nothing, even with `--force`: a Docker manifest list can list',
    'manifests only, and flattening it would make an image of other digests (crane and regctl copy the',
    'nesting as it is). Fix the nested index itself (name its digest) instead.',
    '',
    '| Fix | What it does | Parameters |',
    '|---|---|---|',
    ...(Object.keys(FIX_PARAMS) as FixId[]).map((id) => `| ${code(id)} | ${cell(FIX_TEXT[id])} | ${cell(specText(FIX_PARAMS[id]))} |`),
    '',
  ];
}

/** The table of every target. */
function targetsTable(profiles: readonly Profile[]): string[] {
  return [
    '## Targets',
    '',
    '| Target | Kind | Rules | Versions | Referrers API |',
    '|---|---|---|---|---|',
    ...profiles.map((p) => {
      const counts = SEVERITIES.map((s) => [s, p.rules.filter((r) => r.severity === s).length] as const)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ');
      const api =
        p.kind !== 'registry'
          ? ''
          : p.referrersApi.map((e) => (e.versions ? `${e.value} (${e.versions.text})` : e.value)).join('; ') || 'unknown';
      return `| [${code(p.id)}](#${p.id}) ${cell(p.name)} | ${p.kind} | ${counts} | ${p.versions ? `assumed ${p.versions.assume}` : ''} | ${api} |`;
    }),
    '',
  ];
}

/** One target's section: its summary, platforms, versions, referrers API, rules, history and notes. */
function profileSection(p: Profile): string[] {
  const out: string[] = [];
  const push = (...lines: string[]): void => {
    out.push(...lines);
  };
  push(`### ${p.id}`, '', `**${p.name}** (${p.kind}). ${p.summary}`, '');
  if (p.platforms.length > 0)
    push(`Runs: ${p.platforms.map((x) => code(`${x.os}/${x.architecture}${x.variant ? `/${x.variant}` : ''}`)).join(', ')}.`, '');
  if (p.versions !== undefined)
    push(`Assumed version: ${code(p.versions.assume)}.${p.versions.note === undefined ? '' : ` ${p.versions.note}`}`, '');
  if (p.kind === 'registry') {
    const api =
      p.referrersApi.length === 0
        ? 'unknown'
        : p.referrersApi.map((e) => (e.versions ? `${e.value} for ${code(e.versions.text)}` : e.value)).join('; ');
    push(`Referrers API (profile): ${api}. Where this is unknown, a probe of the registry the image is in is taken instead.`, '');
  }
  for (const rule of p.rules) push(...ruleSection(rule));
  if (p.history.length > 0) {
    push('#### History', '');
    for (const h of p.history) push(`- ${h.text}${h.sources.length > 0 ? ` (${h.sources.map((s) => `<${s}>`).join(', ')})` : ''}`);
    push('');
  }
  if (p.notes.length > 0) {
    push('#### Notes', '');
    for (const n of p.notes) push(`- ${n}`);
    push('');
  }
  return out;
}

/** The whole of docs/targets.md. */
export function renderTargetsDoc(profiles: readonly Profile[]): string {
  const out = [...introLines(), ...targetsTable(profiles), ...profiles.flatMap(profileSection)];
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}
