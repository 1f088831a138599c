/**
 * Parsing of the `Link` header (RFC 8288 §3), which registries use to paginate tag lists and
 * referrers (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-tags):
 *
 *     Link: </v2/name/tags/list?n=100&last=x>; rel="next"
 *
 * The target sits in angle brackets and may hold commas and semicolons, so the header is read
 * character by character. Lenient: it never throws and skips what it cannot read.
 */

/** One link: its target as written (maybe relative) and its parameters (names in lower case). */
export interface Link {
  target: string;
  params: Record<string, string>;
}

/** Parses every link of a `Link` header value. */
export function parseLinks(header: string): Link[] {
  const s = header;
  const out: Link[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  while (i < s.length) {
    skipSpace();
    if (s[i] !== '<') {
      // Garbage before a link: skip to the next "<" that starts one.
      const next = s.indexOf('<', i + 1);
      if (next < 0) break;
      i = next;
      continue;
    }
    const close = s.indexOf('>', i + 1);
    if (close < 0) break;
    const link: Link = { target: s.slice(i + 1, close).trim(), params: {} };
    out.push(link);
    i = close + 1;
    // Parameters: ; name [= value], until a comma outside quotes.
    for (;;) {
      skipSpace();
      if (i >= s.length) break;
      if (s[i] === ',') {
        i++;
        break;
      }
      if (s[i] !== ';') {
        i++;
        continue;
      }
      i++;
      skipSpace();
      const nameStart = i;
      while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i]!)) i++;
      const name = s.slice(nameStart, i).toLowerCase();
      skipSpace();
      let value = '';
      if (s[i] === '=') {
        i++;
        skipSpace();
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === '\\' && i + 1 < s.length) i++;
            value += s[i];
            i++;
          }
          i++;
        } else {
          const start = i;
          while (i < s.length && s[i] !== ';' && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
          value = s.slice(start, i);
        }
      }
      // RFC 8288 §3.3: a repeated rel is ignored after the first.
      if (name !== '' && !Object.hasOwn(link.params, name)) link.params[name] = value;
    }
  }
  return out;
}

/**
 * The `rel="next"` target of a Link header, resolved against the URL of the request that
 * returned it (targets are usually relative: `/v2/...`). Undefined when there is none or it is
 * not a URL.
 */
export function nextLink(header: string | null | undefined, base: string | URL): URL | undefined {
  if (header === null || header === undefined || header === '') return undefined;
  for (const link of parseLinks(header)) {
    const rels = (link.params.rel ?? '').toLowerCase().split(/\s+/);
    if (!rels.includes('next')) continue;
    try {
      return new URL(link.target, base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
