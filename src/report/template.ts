/**
 * A tiny HTML template: `html\`<td>${value}</td>\`` escapes every interpolated value unless it
 * is already {@link Html} (made by `html` itself or, for trusted constant fragments, by
 * {@link raw}). Values come from images (annotations, package names, licences): untrusted, so
 * escaping is the default and the exception has to be spelled out.
 *
 * Templates interpolate only in text and in double-quoted attribute values; there escaping
 * `& < > " '` is enough (https://html.spec.whatwg.org/multipage/parsing.html#data-state,
 * #attribute-value-(double-quoted)-state). Never interpolate into a tag or attribute name, an
 * unquoted attribute, a `<script>` or a `<style>`. Control and invisible characters in values
 * are written as `\\uXXXX` text (../bytes.ts, printableText), as the CLI writes them.
 */

import { printableText } from '../bytes.ts';

/** HTML that is safe to insert as it is. Only `html` and `raw` make one. */
export class Html {
  readonly #text: string;
  /** Use {@link html} or {@link raw}. */
  constructor(text: string) {
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
}

/** What a template accepts: text (escaped), numbers, HTML, nothing (`undefined`, `null`, `false`), and lists of these. */
export type Interpolation = Html | string | number | false | null | undefined | readonly Interpolation[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` with `& < > " '` replaced by character references. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** Marks a trusted, constant fragment as HTML. Never pass it anything read from an image. */
export function raw(text: string): Html {
  return new Html(text);
}

/** The tagged template: every interpolation escaped unless it is {@link Html}. */
export function html(strings: TemplateStringsArray, ...values: readonly Interpolation[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(v: Interpolation): string {
  if (v instanceof Html) return v.toString();
  // Characters that show as nothing (zero-width, bidirectional) as the CLI prints them, `\u200b`:
  // else `open\u200bssl` reads as openssl, and a search for openssl does not find it.
  if (typeof v === 'string') return escapeHtml(printableText(v));
  if (typeof v === 'number') return escapeHtml(String(v));
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  // Anything else (true, an object) is a template mistake; showing "[object Object]" would hide it.
  throw new TypeError(`cannot interpolate ${typeof v} into HTML`);
}
