/**
 * A configuration file's text as a provenance may publish it: without the user info of any
 * repository URL, however the file spells it.
 *
 * Redacting the text as written misses a password that YAML (or JSON, which it reads too) spells
 * with escapes: `"https://ci:p\u00e4ss@host/repo"`, `"…T\x6fp\"9@…"`, a block scalar, a single-quoted
 * `''`. So each scalar is read as the configuration loader reads it (the failsafe schema of
 * ../yaml.ts), and one whose value holds user info is written again, double-quoted, without it;
 * comments and the rest of the text are redacted as written. The result is then read again and
 * checked: no value and no text may still hold user info, else the provenance is refused rather
 * than published with a password in it.
 */
import { parseDocument, visit } from 'yaml';
import { ProvenantError, userInfosIn, withoutUserInfo } from '../errors.ts';

/**
 * `text` without user info: that of the URLs `urls` names (the configuration's repositories and
 * keys, as the build read them), and that of any other http(s) URL in a value or a comment.
 *
 * @throws ProvenantError `CREDENTIALS` when the text cannot be shown free of them (it does not
 *   read as YAML, or a value still holds user info once written again)
 */
export function configTextWithoutUserInfo(text: string, urls: readonly string[], path: string): string {
  // A value (a scalar, as the loader reads it) loses the user info of every URL it holds; the text
  // as written (comments, flow sequences) that of the known URLs and of URLs that end where a
  // scalar does, so that `[http://r.invalid:8080,foo@bar]` keeps its `foo@bar`.
  const clean = (value: string): string => withoutUserInfo(value, urls);
  // The text redacted as written first, which keeps each value as the file writes it (the
  // common case: the URL written plainly); then the values that still hold user info.
  let out = withoutUserInfo(text, urls, true);
  let found: ReturnType<typeof scalars>;
  try {
    found = scalars(out, path);
  } catch {
    out = text;
    found = scalars(out, path);
  }
  const edits: { start: number; end: number; text: string }[] = [];
  for (const s of found.filter((x) => clean(x.value) !== x.value)) {
    const written = out.slice(s.start, s.end);
    // A block scalar's range holds the line breaks after it, which the next key needs.
    const tail = /\s*$/.exec(written)?.[0] ?? '';
    edits.push({ start: s.start, end: s.end, text: `${JSON.stringify(clean(s.value))}${tail}` });
  }
  for (const e of edits.sort((a, b) => b.start - a.start)) out = `${out.slice(0, e.start)}${e.text}${out.slice(e.end)}`;
  out = withoutUserInfo(out, urls, true);
  if (withoutUserInfo(out, urls, true) !== out || scalars(out, path).some((s) => clean(s.value) !== s.value)) {
    throw credentialsLeft(path);
  }
  return out;
}

/**
 * Refuses a provenance predicate that would publish user info: that of the URLs `urls` names
 * (the configuration's repositories and keys, however the predicate's JSON spells them), or that
 * of any URL in one of its strings (a configuration file's text read as free text, any other
 * string as a value). The last check before a predicate is signed and published.
 *
 * @throws ProvenantError `CREDENTIALS` naming `path` when any is left
 */
export function assertNoUserInfo(predicate: unknown, urls: readonly string[], path: string): void {
  const secrets = [...new Set(urls.flatMap(userInfosIn))];
  const serialized = JSON.stringify(predicate);
  // Whatever the predicate's JSON escapes in a password (a quote, a backslash, a control character).
  const escaped = secrets.map((s) => JSON.stringify(s).slice(1, -1));
  if ([...secrets, ...escaped].some((s) => serialized.includes(`//${s}`))) throw credentialsLeft(path);
  const walk = (value: unknown, inText: boolean): boolean => {
    if (typeof value === 'string') return withoutUserInfo(value, [], inText) !== value;
    if (Array.isArray(value)) return value.some((v) => walk(v, inText));
    if (typeof value === 'object' && value !== null) {
      return Object.entries(value).some(([k, v]) => walk(v, inText || k === 'content'));
    }
    return false;
  };
  if (walk(predicate, false)) throw credentialsLeft(path);
}

function credentialsLeft(path: string): ProvenantError {
  return new ProvenantError(
    'CREDENTIALS',
    `${path}: a repository's user info could not be removed from the configuration text the provenance would publish`,
    { hint: 'name the repository without its user info and give the credentials another way, or build with --provenance false' },
  );
}

/** Every string scalar of `text` (keys too) with its value and where it is written. */
function scalars(text: string, path: string): { value: string; start: number; end: number }[] {
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) {
    // Left as text, whose URLs the caller redacts as written: say it rather than trust that.
    throw new ProvenantError(
      'CREDENTIALS',
      `${path}: the configuration text does not read as YAML, so it cannot be shown free of credentials`,
    );
  }
  const out: { value: string; start: number; end: number }[] = [];
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && node.range != null) out.push({ value: node.value, start: node.range[0], end: node.range[1] });
    },
  });
  return out;
}
