/**
 * What a rendered report must never contain, checked on its text: anything the browser would
 * load, anything that runs besides the page's own script, and markup that did not come from the
 * page's templates. Values from the image are escaped, so every `<` in the page starts one of
 * the templates' own tags; that is what makes these text checks meaningful.
 */
import assert from 'node:assert/strict';

/** Every element the templates write. Anything else in a page came from data. */
export const TEMPLATE_TAGS = new Set([
  'html',
  'head',
  'meta',
  'title',
  'style',
  'body',
  'header',
  'h1',
  'h2',
  'h3',
  'h4',
  'div',
  'span',
  'nav',
  'ul',
  'li',
  'a',
  'button',
  'main',
  'section',
  'details',
  'summary',
  'table',
  'caption',
  'thead',
  'tbody',
  'tfoot',
  'tr',
  'th',
  'td',
  'code',
  'br',
  'dl',
  'dt',
  'dd',
  'p',
  'strong',
  'pre',
  'label',
  'input',
  'footer',
  'script',
]);

const LOADING_ATTRIBUTES = new Set([
  'src',
  'srcset',
  'poster',
  'background',
  'action',
  'formaction',
  'data',
  'style',
  'manifest',
  'ping',
  'xlink:href',
]);

/**
 * Fails when the page refers to anything the browser would load (a loading element or
 * attribute, an inline style attribute, url() or @import in its style), has an event handler,
 * a second script or style, or an element the templates do not write. URLs may appear only as
 * the href of a link.
 */
export function assertSelfContained(page: string): void {
  let tags = 0;
  const seen = new Map<string, number>();
  for (const m of page.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>]+(?:="[^"]*")?)*)\s*\/?>/g)) {
    tags++;
    const tag = m[1]!.toLowerCase();
    seen.set(tag, (seen.get(tag) ?? 0) + 1);
    assert.ok(TEMPLATE_TAGS.has(tag), `<${tag}> is not an element the report writes`);
    for (const a of (m[2] ?? '').matchAll(/\s+([^\s=>]+)(?:="([^"]*)")?/g)) {
      const name = a[1]!.toLowerCase();
      assert.ok(!LOADING_ATTRIBUTES.has(name) && !name.startsWith('on'), `<${tag} ${name}=...> loads or runs something`);
      if ((a[2] ?? '').includes('//')) assert.ok(tag === 'a' && name === 'href', `a URL in <${tag} ${name}>`);
    }
  }
  // Every "<" opens one of those tags, a closing tag or the doctype: nothing else could start markup.
  const closing = (page.match(/<\/[a-zA-Z][\w-]*>/g) ?? []).length;
  assert.equal((page.match(/</g) ?? []).length, tags + closing + 1, 'only tags (and the doctype) open with <');
  assert.ok(page.startsWith('<!doctype html>'));
  assert.equal(seen.get('script'), 1, 'one script');
  assert.equal(seen.get('style'), 1, 'one style');
  assert.equal((page.match(/<\/script>/g) ?? []).length, 1);
  assert.equal((page.match(/<\/style>/g) ?? []).length, 1);
  const style = /<style>([\s\S]*?)<\/style>/.exec(page)?.[1] ?? '';
  assert.doesNotMatch(style, /url\(|@import|image-set\(/i);
}

/** Every string in a value, recursively (object keys too). */
export function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsOf(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringsOf(v, out);
    }
  }
  return out;
}
