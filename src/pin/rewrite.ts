import { ProvenantError } from '../errors.ts';
import type { UsesSite } from './scan.ts';

/** A new value for one `uses:` site, and the ref to name in its comment. */
export interface Replacement {
  readonly site: UsesSite;
  /** The pinned value, unquoted. */
  readonly value: string;
  /** The tag, branch or image tag the value was pinned from, written as `# <label>`. */
  readonly label: string;
}

/**
 * What happened to a site's comment: `added` (` # label` after the value), `kept` (it already
 * said the label), `prefixed` (another comment was there: `# label` goes in front of it, so
 * nothing the author wrote is lost), `none` (no room on the line, see {@link UsesSite.commentable}).
 */
export type CommentChange = 'added' | 'kept' | 'prefixed' | 'none';

/** Characters a replacement value may hold: none needs quoting or escaping in any scalar style. */
const SAFE_VALUE = /^[A-Za-z0-9_.\-/@:]+$/;

/**
 * Rewrites the given sites of `text` and nothing else: each site's scalar source is replaced by
 * the new value in the same quoting style, and a `# label` comment is put after it. Every byte
 * outside those spans stays as it was. Pure.
 *
 * @throws ProvenantError `USAGE` for a block scalar (`uses: |`) or a value that would need
 *   escaping; callers leave those out.
 */
export function applyReplacements(text: string, replacements: readonly Replacement[]): { text: string; comments: CommentChange[] } {
  const order = replacements.map((r, i) => ({ r, i })).sort((a, b) => b.r.site.start - a.r.site.start);
  const comments: CommentChange[] = new Array(replacements.length).fill('none');
  let out = text;
  let limit = Number.POSITIVE_INFINITY;
  for (const { r, i } of order) {
    const { site, value, label } = r;
    if (site.style === 'block') throw new ProvenantError('USAGE', 'a block scalar cannot be rewritten in place', { where: where(site) });
    if (!SAFE_VALUE.test(value)) throw new ProvenantError('USAGE', `"${value}" cannot be written without quoting`, { where: where(site) });
    // Label text goes into a comment: it must stay on its line.
    if (/[\r\n]/.test(label)) throw new ProvenantError('USAGE', 'a comment label cannot hold a line break', { where: where(site) });
    if (site.end > limit) throw new ProvenantError('USAGE', 'replacements overlap', { where: where(site) });
    limit = site.start;
    const quote = site.style === 'single' ? "'" : site.style === 'double' ? '"' : '';
    let tail = '';
    let tailEnd = site.end;
    let change: CommentChange = 'none';
    if (site.commentable) {
      if (site.comment === undefined) {
        tail = ` # ${label}`;
        change = 'added';
      } else if (site.comment.trim() === label) {
        change = 'kept';
      } else {
        // Up to the comment's `#`, which is the first one after the value (only blanks come between).
        const hash = out.indexOf('#', site.end);
        tail = `${out.slice(site.end, hash)}# ${label} `;
        tailEnd = hash;
        change = 'prefixed';
      }
    }
    comments[i] = change;
    out = `${out.slice(0, site.start)}${quote}${value}${quote}${tail}${out.slice(tailEnd)}`;
  }
  return { text: out, comments };
}

function where(site: UsesSite): string {
  return `${site.file}:${site.line}:${site.column}`;
}
