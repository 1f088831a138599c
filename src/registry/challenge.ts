/**
 * Parsing of `WWW-Authenticate` (RFC 9110 §11.6.1, the grammar of RFC 7235 §2.1):
 *
 *     challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *     auth-param = token BWS "=" BWS ( token / quoted-string )
 *
 * Several challenges may share one header, separated by commas, and a quoted value may hold
 * commas (`scope="repository:a:pull,push"`), so the header cannot be split on commas. The
 * parser is lenient, as clients must be with real registries: it never throws, skips what it
 * cannot read, and keeps what it can.
 */

/** One challenge: the scheme in lower case, its parameters (names in lower case). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), rarely used by registries. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

/** Parses every challenge of a `WWW-Authenticate` header value. */
export function parseChallenges(header: string): Challenge[] {
  const s = header;
  const out: Challenge[] = [];
  let i = 0;
  const isSpace = (c: string | undefined) => c === ' ' || c === '\t';
  const skipSpace = () => {
    while (i < s.length && isSpace(s[i])) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  // After a name and optional spaces: is this "name = value" (a parameter)? Looks ahead only.
  const atParamValue = (): boolean => {
    let j = i;
    while (j < s.length && isSpace(s[j])) j++;
    if (s[j] !== '=') return false;
    // token68 ends with "="s followed by a comma or the end; a parameter has a value after "=".
    let k = j;
    while (s[k] === '=') k++;
    const equals = k - j;
    while (k < s.length && isSpace(s[k])) k++;
    return equals === 1 && k < s.length && s[k] !== ',';
  };
  const readValue = (): string => {
    if (s[i] === '"') {
      i++;
      let v = '';
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i];
        i++;
      }
      i++; // the closing quote (or past the end)
      return v;
    }
    const start = i;
    while (i < s.length && s[i] !== ',' && !isSpace(s[i])) i++;
    return s.slice(start, i);
  };
  const skipToComma = () => {
    while (i < s.length && s[i] !== ',') {
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      }
      i++;
    }
  };

  let current: Challenge | undefined;
  while (i < s.length) {
    skipSpace();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const name = readToken();
    if (name === '') {
      // Not a token: skip this element.
      i = Math.max(i, start + 1);
      skipToComma();
      continue;
    }
    const afterName = i;
    if (current !== undefined && atParamValue()) {
      skipSpace();
      i++; // "="
      skipSpace();
      const value = readValue();
      const key = name.toLowerCase();
      if (!Object.hasOwn(current.params, key)) current.params[key] = value;
      skipSpace();
      if (i < s.length && s[i] !== ',') skipToComma();
      continue;
    }
    // A new challenge: the scheme, then a token68, parameters, or nothing.
    current = { scheme: name.toLowerCase(), params: Object.create(null) as Record<string, string> };
    out.push(current);
    i = afterName;
    if (!isSpace(s[i])) {
      if (i < s.length && s[i] !== ',') skipToComma();
      continue;
    }
    skipSpace();
    const t68start = i;
    while (i < s.length && TOKEN68_CHAR.test(s[i]!)) i++;
    const t68end = i;
    let pad = i;
    while (s[pad] === '=') pad++;
    let after = pad;
    while (after < s.length && isSpace(s[after])) after++;
    // "Negotiate abc==": a token68 runs to the end of the challenge; "Bearer realm=..." does not.
    const isToken68 = t68end > t68start && (after >= s.length || s[after] === ',');
    if (isToken68) {
      current.token68 = s.slice(t68start, pad);
      i = after;
      continue;
    }
    // Not a token68: parameters start here; go back so the loop reads "name=value".
    i = t68start;
  }
  return out.map((c) => ({ ...c, params: { ...c.params } }));
}

/** The first challenge with `scheme` (case-insensitive). */
export function findChallenge(challenges: readonly Challenge[], scheme: string): Challenge | undefined {
  const want = scheme.toLowerCase();
  return challenges.find((c) => c.scheme === want);
}

/** Formats a quoted-string (for tests and for building headers). */
export function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
