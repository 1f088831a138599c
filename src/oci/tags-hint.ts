/**
 * The hint of a tag that is not there: the tags that are. Registries and layouts say it alike
 * (`tags here: v1, v2`), so it is made once, here, where both may import it (a layout command loads no registry code).
 */
import { printableLine } from '../bytes.ts';
import { COSIGN_TAG_RE } from './content.ts';

/** How many tags a hint names; the others are counted (or, past a first page, said to be more). */
const SHOWN = 20;

/**
 * The tags of the referrers tag schema (`sha256-<hex>`, cut at 128 characters), which a registry
 * without the referrers API holds one of per signed digest, as cosign's tags ({@link COSIGN_TAG_RE}).
 */
const REFERRERS_TAG_RE = /^(sha256|sha512)-[a-f0-9]{64,121}$/;

/**
 * Whether `tag` is one of cosign's (`sha256-<hex>.sig|att|sbom`) or the referrers tag schema's
 * (`sha256-<hex>`): tags that hold signatures and attestations, which no one names an image by.
 */
export function isSignatureTag(tag: string): boolean {
  return COSIGN_TAG_RE.test(tag) || REFERRERS_TAG_RE.test(tag);
}

/**
 * `tags here: a, b, c`: the tags of `tags` a person would name, sorted, at most 20 named and the
 * others counted (past a first page, "and more": how many is not known). Signature and
 * attestation tags ({@link isSignatureTag}) are left out: a repository holds two or three per
 * signed digest, and they buried the few a person pushed.
 * `more`: the list is a first page of more.
 */
export function tagsHereHint(tags: readonly string[], options: { more?: boolean | undefined } = {}): string {
  const names = [...new Set(tags.filter((t) => !isSignatureTag(t)))].sort();
  if (names.length === 0) {
    const none = tags.length === 0 ? '(none)' : '(none besides those of signatures and attestations)';
    return `tags here: ${none}${options.more === true ? ' in the first page the registry answered' : ''}`;
  }
  const shown = names.slice(0, SHOWN).map(printableLine).join(', ');
  // After a first page, how many more there are is not known: those past 20 are counted only
  // when the page was the whole list.
  const rest = names.length - SHOWN;
  return `tags here: ${shown}${options.more === true ? ', and more' : rest > 0 ? `, and ${rest} more` : ''}`;
}
