/**
 * Where a failure's annotation points: the file, line and column of the mistake, so that the
 * workflow run shows the error on that line (and on the pull request's diff). GitHub places an
 * annotation by a path relative to the repository, which is the workspace.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { isProvenantError } from '../errors.ts';
import { ConfigError } from '../yaml.ts';

const { statSync } = process.getBuiltinModule('node:fs');

/** What `core.error` takes to place an annotation. */
export interface AnnotationPlace {
  title: string;
  file: string;
  startLine?: number;
  startColumn?: number;
}

/**
 * The place of a failure, or undefined when it names no file: a {@link ConfigError}'s file, line
 * and column (its own, or its cause's), anywhere; else a `where` of the form `FILE:LINE` or
 * `FILE:LINE:COLUMN` whose FILE is a file in the workspace (a `where` also names references,
 * digests, URLs and cached indexes, none of which the workflow can open). The file is relative
 * to the workspace when inside it, as GitHub needs; absolute otherwise.
 *
 * @param cwd the folder relative paths are read from (the step's, which is the workspace)
 */
export function annotationOf(err: unknown, workspace: string | undefined, cwd: string): AnnotationPlace | undefined {
  const title = 'Provenant';
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (!(e instanceof ConfigError)) continue;
    const file = shown(resolve(cwd, e.file), workspace);
    return {
      title,
      file: file ?? resolve(cwd, e.file),
      ...(e.line === undefined ? {} : { startLine: e.line, startColumn: e.column ?? 1 }),
    };
  }
  if (!isProvenantError(err) || err.where === undefined) return undefined;
  const m = /^(.+?):(\d+)(?::(\d+))?$/.exec(err.where);
  if (m === null) return undefined;
  const path = resolve(cwd, m[1]!);
  const file = shown(path, workspace);
  if (file === undefined || !isFile(path)) return undefined;
  return { title, file, startLine: Number(m[2]), ...(m[3] === undefined ? {} : { startColumn: Number(m[3]) }) };
}

/** The path relative to the workspace, when inside it. */
function shown(path: string, workspace: string | undefined): string | undefined {
  if (workspace === undefined || workspace === '') return undefined;
  const rel = relative(resolve(workspace), path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
