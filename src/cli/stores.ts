/**
 * The stores a command works on: opened from the locations on its command line, registries
 * reached with the credentials its flags give, and every store closed when the command ends,
 * finished on success and discarded on failure or interrupt (an archive is then not written).
 */
import { isProvenantError, ProvenantError } from '../errors.ts';
import { type Digest, isDigest } from '../oci/digest.ts';
import { type Location, parseLocation } from '../ref/location.ts';
import { formatReference, type ImageReference, repositoryName } from '../ref/reference.ts';
import { defaultTarget, namedIn, type OpenedStore, openStore, type RegistryOpenOptions, sharedStoreKey } from '../store/open.ts';
import { registryAccess } from '../store/registry-access.ts';
import type { ContentStore } from '../store/types.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { warningLogger } from './visible.ts';

const { statSync } = process.getBuiltinModule('node:fs');

/** Opens stores for one command run. */
export interface Stores {
  /**
   * Opens the store `text` names. `makes`: the command writes an image it makes there (build,
   * index, fix, reproduce), whose digest is known only once it is written, so a location that
   * names a digest is refused before anything is opened; `copy` checks the digest instead.
   */
  open(text: string, options?: { write?: boolean; makes?: string }): Promise<OpenedStore>;
}

/**
 * Runs `task` with a {@link Stores}, then closes what it opened: on success each store finishes
 * (an archive is written), on failure each is discarded, and the task's error is thrown.
 * `locations` are the texts the task opens: `--username`'s credentials go to the one registry
 * among them ({@link credentialsRegistryOf}).
 *
 * Locations that spell one folder or file alike share a store ({@link sharedStoreKey}): a layout
 * is read once however many of its images the task reads, and what it passes over is said once.
 * A shared store is closed once, after the task, as written when any of its openers wrote. Two
 * spellings of one folder get a store each, so that each argument's messages name it as written.
 */
export async function withStores<T>(
  args: ParsedArgs,
  io: CliIo,
  locations: readonly string[],
  task: (stores: Stores) => Promise<T>,
): Promise<T> {
  const opened: { store: ContentStore; write: boolean }[] = [];
  const shared = new Map<string, Promise<{ store: ContentStore; write: boolean }>>();
  // One registry access per run: the password is read once, and source and destination in
  // one registry share a client (and its tokens).
  let access: Promise<RegistryOpenOptions> | undefined;
  const openNew = async (location: Location, write: boolean) => {
    access ??= location.kind === 'registry' ? registryAccessFromFlags(args, io, locations) : undefined;
    const registry = location.kind === 'registry' ? await access : undefined;
    // A layout written waits for its lock when another writer or a gc holds it: says so, and
    // stops at Ctrl-C. (Only then: the signal is made when first asked for, see dispatch.ts.)
    const waits = write && location.kind === 'oci' ? { signal: io.signal, logger: warningLogger(io) } : {};
    const store = await openStore(location, { write, ...waits, ...(registry ? { registry } : {}) });
    const entry = { store, write };
    opened.push(entry);
    return entry;
  };
  const stores: Stores = {
    async open(text, options = {}) {
      const location = parseLocationOrPath(text);
      if (options.makes !== undefined) refuseDigest(text, location, options.makes);
      const write = options.write === true;
      const key = sharedStoreKey(location, write);
      let entry = key === undefined ? undefined : shared.get(key);
      if (entry === undefined) {
        entry = openNew(location, write);
        if (key !== undefined) {
          shared.set(key, entry);
          // An open that failed is not kept: a later one tries again.
          entry.catch(() => shared.delete(key));
        }
      }
      const e = await entry;
      e.write ||= write;
      return { store: e.store, ...(await namedIn(location, write)) };
    },
  };
  let result: T;
  try {
    result = await task(stores);
  } catch (err) {
    for (const o of opened.reverse()) await o.store.close({ discard: true }).catch(() => undefined);
    throw withoutLatestNote(err, locations);
  }
  for (const [i, o] of opened.entries()) {
    try {
      await o.store.close(o.write ? { signal: io.signal } : signalFor(io, o.store));
    } catch (err) {
      for (const rest of opened.slice(i + 1)) await rest.store.close({ discard: true }).catch(() => undefined);
      throw err;
    }
  }
  return result;
}

/** What the registry client adds to the hint of a missing `latest` (registry/client.ts). */
const LATEST_NOTE = '; a reference without a tag names latest';

/**
 * `err`, a missing `latest` in a registry, without the note that a reference without a tag names
 * latest where each of `locations` naming that repository wrote `:latest` itself: the parser
 * fills latest in for one that wrote no tag (ImageReference cannot tell the two apart), and the
 * note would tell one who typed the tag what they typed. Any other error is returned as it is.
 */
export function withoutLatestNote(err: unknown, locations: readonly string[]): unknown {
  if (!isProvenantError(err, 'NOT_FOUND') || err.hint?.endsWith(LATEST_NOTE) !== true || err.where === undefined) return err;
  const where = err.where;
  const naming = locations.filter((text) => {
    try {
      const location = parseLocation(text);
      return (
        location.kind === 'registry' && location.reference.tag === 'latest' && where.endsWith(`/${location.reference.repository}:latest`)
      );
    } catch {
      return false;
    }
  });
  if (naming.length === 0 || !naming.every(writesTag)) return err;
  return new ProvenantError(err.code, err.message, { where, hint: err.hint.slice(0, -LATEST_NOTE.length), cause: err.cause });
}

/** Whether a registry reference as typed writes its tag (`app:latest`), not leaving it to the parser (`app`). */
function writesTag(text: string): boolean {
  const name = text.replace(/^docker:\/\//, '').split('@')[0] ?? '';
  return name.slice(name.lastIndexOf('/') + 1).includes(':');
}

/** USAGE for an output location that names a digest, which the command making the image cannot know beforehand. */
export function refuseDigest(text: string, location: Location, command: string): void {
  const digest =
    location.kind === 'registry' ? location.reference.digest : location.kind === 'docker-archive' ? undefined : location.digest;
  if (digest === undefined) return;
  throw new ProvenantError('USAGE', `${text} names a digest, but ${command} makes the image: its digest is known only once it is written`, {
    hint: 'name a tag (REPO:TAG, oci:DIR:TAG) or nothing; to check an image against a digest, copy it to REPO:TAG@DIGEST',
  });
}

/**
 * A location, or USAGE when `text` is a local path that would be read as a registry reference
 * (`image.oci` means Docker Hub's library/image.oci): the user meant the file or folder, which
 * needs its prefix. Said before any registry is asked. A reference that names its registry
 * (`docker.io/...`, `docker://...`) is taken as written.
 */
export function parseLocationOrPath(text: string): Location {
  let location: Location | undefined;
  let error: unknown;
  try {
    location = parseLocation(text);
  } catch (err) {
    error = err;
  }
  if ((location === undefined || location.kind === 'registry') && !namesRegistry(text)) {
    // The path as written, or without a :TAG or @DIGEST the user may have added.
    for (const path of [text, text.replace(/(@[a-z0-9]+:[0-9a-f]+|:[^/:@]*)$/, '')]) {
      const kind = localKind(path);
      if (kind === undefined) continue;
      const prefixed = kind === 'dir' ? `oci:${text}` : `oci-archive:${text}`;
      throw new ProvenantError(
        'USAGE',
        `${path} is a local ${kind === 'dir' ? 'folder' : 'file'}, but without a prefix "${text}" names an image on Docker Hub`,
        {
          hint:
            kind === 'dir'
              ? `for the OCI layout there write ${prefixed}; for Docker Hub write docker.io/${text}`
              : `for an OCI archive write ${prefixed}, for a docker save archive docker-archive:${text}; for Docker Hub write docker.io/${text}`,
        },
      );
    }
    if (location?.kind === 'registry') refuseFileName(text, location.reference);
  }
  if (location === undefined) {
    // A path that is not there yet (a copy's destination, say) fails as a reference, and the
    // reference parser's complaint ("." is not a registry host) does not say what to write.
    if (/^(\.{1,2}|~)?\//.test(text)) {
      throw new ProvenantError('USAGE', `"${text}" is a path, and a location names its kind`, {
        hint: `for an OCI layout folder write oci:${text}; for an archive oci-archive:${text} or docker-archive:${text}`,
        cause: error,
      });
    }
    throw error;
  }
  return location;
}

/**
 * A name that ends as archives and layouts are named (`.tar`, `.tar.gz`, `.tgz`, `.oci`,
 * `.oci.tar`, ...): as a bare reference it would be Docker Hub's library/NAME, where no image is
 * named so, and a push there is not what was meant.
 */
const FILE_LIKE = /\.(?:oci|tar|tgz|tbz2?|txz|tzst|zip|(?:oci\.)?tar\.(?:gz|bz2|xz|zst))$/i;

/**
 * USAGE for a bare reference with no namespace (`out.tar`, `out.oci:v1`: Docker Hub's
 * library/NAME) whose name reads as a file, said before any work: `build -o out.tar` would
 * otherwise build, then push to Docker Hub. `docker.io/library/NAME` is taken as written.
 */
function refuseFileName(text: string, reference: ImageReference): void {
  const name = reference.repository.replace(/^library\//, '');
  if (name.includes('/') || !FILE_LIKE.test(name)) return;
  const asLayout = /\.oci$/i.test(name);
  // From the reference, not the text: `library/app.tar` was docker.io/library/library/app.tar.
  const hub = formatReference(reference);
  throw new ProvenantError(
    'USAGE',
    `"${text}" reads as a file name, but without a prefix it names an image on Docker Hub (${repositoryName(reference)})`,
    {
      hint: asLayout
        ? `for an OCI layout folder write oci:${text}, for an OCI archive oci-archive:${text}; for Docker Hub write ${hub}`
        : // docker-archive:FILE:X would read X as the image's name: the file alone.
          `for an OCI archive write oci-archive:${text}, for a docker save archive docker-archive:${text.replace(/[:@].*$/, '')}; for Docker Hub write ${hub}`,
    },
  );
}

/**
 * Whether `text` names its registry (`docker://...`, or a first part that is a host: with a `.`
 * or a `:`, or `localhost`), rather than meaning Docker Hub by default or being a path.
 */
function namesRegistry(text: string): boolean {
  const first = text.split('/')[0] ?? '';
  return text.startsWith('docker://') || (text.includes('/') && (/[.:]/.test(first) || first === 'localhost'));
}

/**
 * The registry `--username`'s credentials are for: the one registry among the locations a
 * command opens (a short reference such as `me/app` is Docker Hub's). Every other registry it
 * reaches gets the credential files alone: a source and a destination in two registries cannot
 * share one password.
 *
 * @throws ProvenantError `USAGE` when the locations name more than one registry, or none
 */
function credentialsRegistryOf(locations: readonly string[]): string {
  const named = new Set<string>();
  for (const text of locations) {
    const location = parseLocationOrPath(text);
    if (location.kind === 'registry') named.add(location.reference.registry);
  }
  if (named.size > 1) {
    throw new ProvenantError('USAGE', `--username is for one registry, and this command reaches ${[...named].join(' and ')}`, {
      hint: 'log in to each with docker login or podman login instead: their credential files are read per registry',
    });
  }
  const [registry] = named;
  if (registry === undefined) throw new ProvenantError('USAGE', '--username is for a registry, and this command names none');
  return registry;
}

function localKind(path: string): 'dir' | 'file' | undefined {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `{ signal }` (the command's cancel signal) for work on a registry, whose requests may wait on
 * the network; nothing for reading a local store, which is short and leaves nothing to clean up
 * on an interrupt. So a command that only reads a layout never makes the signal, whose
 * AbortController costs start-up time (issue 16; dispatch.ts makes it on first use).
 */
export function signalFor(io: CliIo, store: ContentStore): { signal?: AbortSignal } {
  return store.registryRepository === undefined ? {} : { signal: io.signal };
}

/** Runs `task` on the image `text` names: its store and the tag or digest it means (see {@link withStores}). */
export async function withImage<T>(
  args: ParsedArgs,
  io: CliIo,
  text: string,
  task: (store: ContentStore, target: string) => Promise<T>,
): Promise<T> {
  return withStores(args, io, [text], async (stores) => {
    const opened = await stores.open(text);
    return task(opened.store, await targetOf(opened));
  });
}

/**
 * The digest `target` (a tag or digest) names in `store`, or NOT_FOUND as reading the manifest
 * says it: a tag that is not there with the tags that are as its hint, in a registry and a layout
 * alike (the note of a missing `latest` with it). `resolve` answers a missing tag with no word
 * (one HEAD), so the manifest of a missing tag is asked for only then, to say why; where that
 * read finds it after all (pushed meanwhile) or fails otherwise, and for a missing digest, which
 * no list of tags helps, `message` is said, `where` naming the place.
 */
export async function resolvedDigest(
  store: ContentStore,
  target: string,
  options: { signal?: AbortSignal },
  message: string,
  where: string,
): Promise<Digest> {
  const found = await store.resolve(target, options);
  if (found !== undefined) return found.digest;
  // A digest has no tags to list: the read would be one more request that says nothing more.
  if (isDigest(target)) throw new ProvenantError('NOT_FOUND', message, { where });
  try {
    await store.getManifest(target, options);
  } catch (err) {
    if (isProvenantError(err, 'NOT_FOUND') || isProvenantError(err, 'ABORTED')) throw err;
  }
  throw new ProvenantError('NOT_FOUND', message, { where });
}

/** The tag or digest the location names, else the store's only image. */
export async function targetOf(opened: OpenedStore): Promise<string> {
  return opened.target ?? defaultTarget(opened.store);
}

/**
 * Registry access from `--username` with `--password-stdin` (or PROVENANT_PASSWORD), for the one
 * registry among `locations` (see {@link credentialsRegistryOf}), then the credential files the
 * environment points at; `--insecure` for plain HTTP beyond localhost.
 *
 * @throws ProvenantError `USAGE` when `--username` comes without a password, or the locations
 *   name more than one registry
 */
export async function registryAccessFromFlags(args: ParsedArgs, io: CliIo, locations: readonly string[]): Promise<RegistryOpenOptions> {
  const username = args.values.username as string | undefined;
  const credentialsRegistry = username === undefined ? undefined : credentialsRegistryOf(locations);
  let password: string | undefined;
  if (args.values['password-stdin']) {
    if (username === undefined) throw new ProvenantError('USAGE', '--password-stdin needs --username');
    // Read once per run (per io), however many times the run asks for registry access: standard input has one password.
    let read = passwords.get(io);
    if (read === undefined) {
      read = readStdin(io.stdin).then((text) => text.replace(/\r?\n$/, ''));
      passwords.set(io, read);
    }
    password = await read;
  } else if (username !== undefined) {
    password = io.env.PROVENANT_PASSWORD;
    if (password === undefined) throw new ProvenantError('USAGE', '--username needs --password-stdin (or PROVENANT_PASSWORD)');
  } else if (io.env.PROVENANT_PASSWORD !== undefined && io.env.PROVENANT_PASSWORD !== '' && !passwordWithoutUser.has(io)) {
    // A password alone is no credential: say so, rather than let the registry's refusal read as
    // if none had been given. A warning, not an error: the keychain's credentials may serve.
    passwordWithoutUser.add(io);
    warningLogger(io).warn('PROVENANT_PASSWORD is set but --username is not: the password is not used; give --username with it');
  }
  return registryAccess({
    username,
    password,
    credentialsRegistry,
    insecure: args.values.insecure === true,
    env: io.env,
    homedir: io.homedir,
    uid: io.uid,
  });
}

/** The runs already warned that PROVENANT_PASSWORD came without --username. */
const passwordWithoutUser = new WeakSet<CliIo>();

/** The password each run read from standard input (--password-stdin). */
const passwords = new WeakMap<CliIo, Promise<string>>();

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  if ((stdin as { isTTY?: boolean }).isTTY) {
    throw new ProvenantError('USAGE', '--password-stdin reads a pipe, not a terminal', {
      hint: 'echo "$PASSWORD" | provenant ... --password-stdin',
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}
