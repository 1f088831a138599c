/**
 * The Action's inputs, read and checked before anything runs. Names and meanings follow
 * docker/build-push-action's where the meaning is the same (`tags`, `push`, `platforms`,
 * `provenance`, `sbom`); a mistake is a `USAGE` error naming the input.
 */
import { ATTESTATION_MODES, type AttestationMode, parseAttestationMode } from '../attest/storage.ts';
import { distinctArchs, linuxPlatformArch } from '../builder/arch.ts';
import type { ApkArch } from '../builder/config-types.ts';
import { ProvenantError, redactCredentials } from '../errors.ts';
import { hostPlatform } from '../oci/platform.ts';
import type { ImageReference } from '../ref/reference.ts';
import { parseReference } from '../ref/reference.ts';
import { PUBLIC_FULCIO, PUBLIC_REKOR } from '../sign/public-good.ts';

/** How to sign: not at all, with a cosign key from a secret, or keyless with the job's OIDC token. */
export type SignInput =
  | { kind: 'none' }
  | { kind: 'key'; keyPem: string; password: string }
  | { kind: 'keyless'; fulcioURL: string; rekorURL: string; tsaURL: string | undefined; trustedRoot: string | undefined };

/** Everything the Action was asked to do. */
export interface ActionInputs {
  /** The build configuration file. */
  config: string;
  /** Full references (`registry.example/owner/app:1.0`), in the order given. */
  tags: ImageReference[];
  push: boolean;
  /** apk architectures, from `platforms` (`linux/amd64,linux/arm64`); empty for the configuration's. */
  archs: string[];
  provenance: false | { mode: 'min' | 'max'; version: 'v1' | 'v0.2' };
  sbom: boolean;
  attestations: AttestationMode;
  sign: SignInput;
  /** Compatibility targets (`id` or `id@version`); empty for the report's defaults (and then no `fix`). */
  targets: string[];
  fix: boolean;
  /** The download cache; undefined for the default under RUNNER_TEMP. */
  cacheDir: string | undefined;
  /** A lock file to build from, when given. */
  lock: string | undefined;
}

/**
 * Reads one input by name ('' when not set), as `core.getInput` does: trimmed, unless
 * `trimWhitespace` is false (a password is taken as written).
 */
export type InputGetter = (name: string, options?: { trimWhitespace?: boolean }) => string;

/**
 * Reads and checks every input.
 *
 * @throws ProvenantError `USAGE` naming the input and what it accepts
 */
export function readInputs(get: InputGetter): ActionInputs {
  const config = get('config').trim();
  if (config === '') throw usage('config', 'is required: the path of the image configuration (apko-style YAML)');
  const tags = splitList(get('tags')).map((t) => {
    try {
      return parseReference(t);
    } catch (err) {
      throw usage('tags', `has ${JSON.stringify(redactCredentials(t))}, which is not an image reference (${(err as Error).message})`);
    }
  });
  const push = bool(get, 'push', false);
  if (push && tags.length === 0) throw usage('tags', 'is required with push: true (where would the image go?)');
  for (const t of tags) {
    if (t.digest !== undefined) throw usage('tags', `has ${t.registry}/${t.repository}@${t.digest}: a tag names no digest`);
  }
  // Each architecture once, as the CLI's --platform: linux/arm64 and linux/arm64/v8 are one image.
  const archs = distinctArchs(
    splitList(get('platforms')).map((p) => {
      let arch: ApkArch | undefined;
      try {
        // An OS alone is this runner's architecture, as --platform reads it on the command line.
        arch = linuxPlatformArch(p, hostPlatform(process.arch));
      } catch (err) {
        throw usage('platforms', `has ${JSON.stringify(p)}: ${(err as Error).message}`);
      }
      if (arch === undefined) throw usage('platforms', `has ${JSON.stringify(p)}: write linux/ARCH[/VARIANT], such as linux/arm64`);
      return arch;
    }),
  );
  const attestationsText = get('attestations').trim() || 'referrers';
  let attestations: AttestationMode;
  try {
    attestations = parseAttestationMode(attestationsText);
  } catch {
    throw usage('attestations', `must be ${ATTESTATION_MODES.join(', ')}, not ${JSON.stringify(attestationsText)}`);
  }
  const sign = readSign(get);
  if (attestations === 'cosign' && sign.kind === 'none') {
    throw usage('attestations', 'cosign storage holds signed attestations: set sign to key or keyless');
  }
  const targets = splitList(get('targets'));
  const fix = bool(get, 'fix', false);
  // The default targets only fill the summary's table: fixing for them would write (and push)
  // TAG-TARGET images nobody asked for.
  if (fix && targets.length === 0) {
    throw new ProvenantError('USAGE', 'the input fix needs targets: the targets to write a fixed image for', {
      where: 'with: fix',
      hint: 'name them, as targets: aws-lambda (fix: true writes TAG-aws-lambda beside the image when Lambda refuses it)',
    });
  }
  return {
    config,
    tags,
    push,
    archs,
    provenance: parseProvenanceInput(get('provenance').trim() || 'true'),
    sbom: bool(get, 'sbom', true),
    attestations,
    sign,
    targets,
    fix,
    cacheDir: get('cache-dir').trim() || undefined,
    lock: get('lock').trim() || undefined,
  };
}

/**
 * A warning for signing inputs that the chosen `sign` does not read: `key` (or `key-password`)
 * given while `sign` is left at `none`, or is `keyless`. The run goes on (a workflow may pass
 * the key always and choose `sign` by an expression), but unsaid the image went out unsigned,
 * or signed another way, where the key was meant to sign it.
 */
export function unreadSigningInputs(get: InputGetter, sign: SignInput): string | undefined {
  if (sign.kind === 'key') return undefined;
  const given = ['key', 'key-password'].filter((name) => get(name, { trimWhitespace: false }) !== '');
  if (given.length === 0) return undefined;
  const what = given.length === 1 ? `${given[0]} is given` : 'key and key-password are given';
  const outcome = sign.kind === 'none' ? 'the image is not signed' : 'the image is signed keyless';
  return `${what} but sign is ${sign.kind}: ${outcome}, and ${given.length === 1 ? 'it is' : 'they are'} not read; set sign: key to sign with the key`;
}

function readSign(get: InputGetter): SignInput {
  const kind = get('sign').trim() || 'none';
  // `false` as a boolean input reads it (any of core.getBooleanInput's spellings): not signing.
  if (kind === 'none' || FALSE.includes(kind)) return { kind: 'none' };
  if (kind === 'key') {
    const keyPem = get('key');
    if (keyPem.trim() === '') throw usage('key', 'is required with sign: key (the cosign.key text, from a secret)');
    // As written: a password may end in a space, and cosign takes it whole.
    return { kind: 'key', keyPem, password: get('key-password', { trimWhitespace: false }) };
  }
  if (kind === 'keyless') {
    return {
      kind: 'keyless',
      fulcioURL: url(get, 'fulcio-url', PUBLIC_FULCIO),
      rekorURL: url(get, 'rekor-url', PUBLIC_REKOR),
      tsaURL: get('tsa-url').trim() === '' ? undefined : url(get, 'tsa-url', ''),
      trustedRoot: get('trusted-root').trim() || undefined,
    };
  }
  throw new ProvenantError('USAGE', `the input sign must be none (or false), key or keyless, not ${JSON.stringify(kind)}`, {
    where: 'with: sign',
    ...(TRUE.includes(kind)
      ? {
          hint: 'say how to sign: sign: key (with key: and key-password: from secrets) or sign: keyless (with permissions: id-token: write)',
        }
      : {}),
  });
}

/** The spellings `core.getBooleanInput` takes (YAML 1.2's core schema), and build-push-action with it. */
const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];

/**
 * `provenance` as build-push-action takes it: a boolean as `core.getBooleanInput` reads one
 * (`true`: mode=min), or BuildKit's attribute list (`mode=min|max`, `version=v1|v0.2`,
 * `inline-only=true|false`, comma-separated).
 *
 * `inline-only` is taken and changes nothing. In BuildKit it decides whether an exporter that
 * cannot store attestations with the image (`local`, `tar`) gets the provenance as a file beside
 * the output; the Action has no such output: it writes an image, to a registry or an OCI layout,
 * and the provenance goes with it (where the `attestations` input says), as `inline-only=true`
 * asks. With `false` there is no other output to write it to either. build-push-action's default
 * in a private repository is `mode=min,inline-only=true`, so a workflow moving over may say it.
 */
export function parseProvenanceInput(text: string): false | { mode: 'min' | 'max'; version: 'v1' | 'v0.2' } {
  if (FALSE.includes(text)) return false;
  const out: { mode: 'min' | 'max'; version: 'v1' | 'v0.2' } = { mode: 'min', version: 'v1' };
  if (TRUE.includes(text)) return out;
  for (const part of text.split(',')) {
    const [k, v, ...extra] = part.trim().split('=');
    if (extra.length === 0 && k === 'mode' && (v === 'min' || v === 'max')) out.mode = v;
    else if (extra.length === 0 && k === 'version' && (v === 'v1' || v === 'v0.2')) out.version = v;
    else if (extra.length === 0 && k === 'inline-only' && v !== undefined && (TRUE.includes(v) || FALSE.includes(v))) continue;
    else {
      throw usage(
        'provenance',
        `does not understand ${JSON.stringify(part)}: write true, false, or mode=min|max,version=v1|v0.2 (inline-only=true|false is taken too: the provenance is always stored with the image)`,
      );
    }
  }
  return out;
}

/**
 * A list input as build-push-action reads one (actions-toolkit's `Util.getInputList`, a CSV
 * reader): items separated by newlines or commas, each trimmed, a double-quoted item without its
 * quotes (`""` inside is one `"`), empty items dropped. Lines starting with `#` are skipped too:
 * no tag, platform or target starts with one.
 */
export function splitList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap(csvFields)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The fields of one CSV line: commas separate them, except inside double quotes. */
function csvFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (line[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"' && field.trim() === '') {
      // An opening quote (after blanks, which csv-parse would keep and the trim drops anyway).
      field = '';
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** A boolean input as `core.getBooleanInput` reads it: one of its six spellings, else USAGE naming the input. */
function bool(get: InputGetter, name: string, fallback: boolean): boolean {
  const text = get(name).trim();
  if (text === '') return fallback;
  if (TRUE.includes(text)) return true;
  if (FALSE.includes(text)) return false;
  throw usage(name, `must be true or false (or True, TRUE, False, FALSE, as core.getBooleanInput reads them), not ${JSON.stringify(text)}`);
}

function url(get: InputGetter, name: string, fallback: string): string {
  const text = get(name).trim() || fallback;
  try {
    const u = new URL(text);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw usage(name, `must be an http(s) URL, not ${JSON.stringify(redactCredentials(text))}`);
  }
  return text.replace(/\/+$/, '');
}

function usage(input: string, what: string): ProvenantError {
  return new ProvenantError('USAGE', `the input ${input} ${what}`, { where: `with: ${input}` });
}
