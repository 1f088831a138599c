/**
 * An authority's attestation rules: a predicate type (a URI or one of cosign's short names) with
 * an optional CEL condition, or one of Provenant's `builtin:` checks (docs/policy.md). A CEL
 * expression is compiled here, so a mistake in it is reported at its place in the file.
 */
import { isScalar, isSeq, type Scalar } from 'yaml';
import { printableLine } from '../bytes.ts';
import { ProvenantError } from '../errors.ts';
import { PREDICATE_TYPES, parsePredicateType } from '../sign/payload.ts';
import { type Ctx, describe, type Entry, fail, fields, isNull, list, type MapSpec, required, whereOf, type YNode } from './nodes.ts';
import type { AttestationRule, BuiltinCheck, Condition } from './types.ts';

const ATTESTATION: MapSpec = { known: ['name', 'predicateType', 'policy', 'builtin'] };
const CONDITION: MapSpec = {
  known: ['type', 'data'],
  unsupported: {
    remote: ['policy.remote (a policy fetched from a URL) is not supported', 'put the CEL expression in policy.data'],
    configMapRef: ['policy.configMapRef (a policy in a ConfigMap) is not supported', 'put the CEL expression in policy.data'],
    fetchConfigFile: ['policy.fetchConfigFile is not supported (policy-controller allows it only in spec.policy)', 'remove it'],
    includeSpec: ['policy.includeSpec is not supported: there is no Kubernetes resource here', 'remove it'],
    includeObjectMeta: ['policy.includeObjectMeta is not supported: there is no Kubernetes resource here', 'remove it'],
    includeTypeMeta: ['policy.includeTypeMeta is not supported: there is no Kubernetes resource here', 'remove it'],
  },
};
/**
 * Whitespace (any Unicode space) and control characters (C0, DEL, C1): URL parsers drop or trim
 * them, so a repository URL with one means something else to a client than its text says.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
export const UNFETCHABLE = /[\s\u0000-\u001f\u007f-\u009f]/u;

const BUILTINS = ['slsaBuilder', 'sbom', 'maxPackageAgeDays', 'repositories'] as const;
const BUILTIN: MapSpec = { known: BUILTINS };

/** The attestation rule at `path`. */
export async function readAttestation(ctx: Ctx, node: YNode | undefined, path: string): Promise<AttestationRule> {
  const f = fields(ctx, node, path, ATTESTATION, 'an attestation');
  const where = whereOf(ctx, node);
  const name = required(ctx, f.get('name'), node!, path, 'name');
  const builtinEntry = f.get('builtin');
  if (builtinEntry !== undefined) {
    for (const k of ['predicateType', 'policy']) {
      const e = f.get(k);
      if (e !== undefined)
        fail(
          ctx,
          e.keyNode,
          e.path,
          `a builtin check chooses its own attestations, so it takes no ${k}`,
          'use a separate attestation entry for a CEL condition',
        );
    }
    const { check, types, text } = readBuiltin(ctx, builtinEntry);
    return {
      name,
      where,
      predicateTypes: types,
      predicateTypeText: text,
      condition: { kind: 'builtin', check, where: whereOf(ctx, builtinEntry.node) },
    };
  }
  const typeEntry = f.get('predicateType');
  const typeText = required(ctx, typeEntry, node!, path, 'predicateType');
  let predicateType: string;
  try {
    predicateType = parsePredicateType(typeText);
  } catch {
    return fail(
      ctx,
      typeEntry!.node,
      typeEntry!.path,
      `${JSON.stringify(typeText)} is not a predicate type`,
      `use a URI, or one of ${Object.keys(PREDICATE_TYPES).join(', ')}`,
    );
  }
  const policyEntry = f.get('policy');
  const condition: Condition =
    policyEntry === undefined || isNull(policyEntry.node) ? { kind: 'none' } : await readCondition(ctx, policyEntry);
  return { name, where, predicateTypes: [predicateType], predicateTypeText: typeText, condition };
}

async function readCondition(ctx: Ctx, e: Entry): Promise<Condition> {
  const f = fields(ctx, e.node, e.path, CONDITION, 'a policy');
  const typeEntry = f.get('type');
  const type = required(ctx, typeEntry, e.node!, e.path, 'type');
  if (type === 'cue' || type === 'rego') {
    fail(
      ctx,
      typeEntry!.node,
      typeEntry!.path,
      `${type === 'cue' ? 'CUE' : 'Rego'} policies are not supported; conditions are written in CEL`,
      'write type: cel and a CEL expression in data, e.g. predicateType == "https://spdx.dev/Document" (see docs/policy.md)',
    );
  }
  if (type !== 'cel') fail(ctx, typeEntry!.node, typeEntry!.path, `${JSON.stringify(type)} is not a policy type; the one supported is cel`);
  const dataEntry = f.get('data');
  const expression = required(ctx, dataEntry, e.node!, e.path, 'data');
  // The CEL implementation loads with the first condition, not with every policy (issue 16).
  const { compileCel } = await import('./cel.ts');
  const compiled = compileCel(expression);
  const scalar = dataEntry!.node as Scalar;
  if (!('run' in compiled)) {
    const place = compiled.line === undefined ? whereOf(ctx, scalar) : celPlace(ctx, scalar, compiled.line, compiled.column ?? 1);
    // The place in the first line, the line of the expression under it with a caret at the column.
    const excerpt = compiled.line === undefined ? '' : caretExcerpt(expression, compiled.line, compiled.column ?? 1);
    throw new ProvenantError(
      'INVALID_CONFIG',
      `${dataEntry!.path}: the CEL condition (document ${ctx.document}) does not compile (${place}): ${compiled.message}${excerpt}`,
      {
        where: place,
        hint: 'a condition is a CEL expression over predicateType, predicate, subject, statement and now that is true or false',
      },
    );
  }
  return { kind: 'cel', expression, program: compiled, where: whereOf(ctx, scalar) };
}

/**
 * Line `line` of `expression`, indented, and a caret under its `column`th character (both
 * 1-based, in code points), each on a line of its own; the text printable (control characters
 * escaped, the caret moved by what the escapes add).
 */
function caretExcerpt(expression: string, line: number, column: number): string {
  const text = [...(expression.split('\n')[line - 1] ?? '')];
  const shown = printableLine(text.join(''));
  const before = printableLine(text.slice(0, column - 1).join(''));
  return `\n      ${shown}\n      ${' '.repeat([...before].length)}^`;
}

/** The file position of line:column of a CEL expression held in `scalar`. */
function celPlace(ctx: Ctx, scalar: Scalar, line: number, column: number): string {
  const start = scalar.range?.[0] ?? 0;
  const pos = ctx.lines.linePos(start);
  if (scalar.type === 'BLOCK_LITERAL' || scalar.type === 'BLOCK_FOLDED') {
    // The text starts on the line after the `|` or `>` indicator, at the block's indentation.
    const first = ctx.text.split('\n')[pos.line] ?? '';
    const indent = first.length - first.trimStart().length;
    return `${ctx.file}:${pos.line + line}:${indent + column}`;
  }
  const quoted = scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE' ? 1 : 0;
  return line === 1 ? `${ctx.file}:${pos.line}:${pos.col + quoted + column - 1}` : `${ctx.file}:${pos.line + line - 1}`;
}

const SBOM_TYPES = { spdx: ['https://spdx.dev/Document'], cyclonedx: ['https://cyclonedx.org/bom'] } as const;
const SLSA_TYPES = ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2', 'https://slsa.dev/provenance/v0.1'];

function readBuiltin(ctx: Ctx, e: Entry): { check: BuiltinCheck; types: string[]; text: string } {
  const f = fields(ctx, e.node, e.path, BUILTIN, 'a builtin check');
  if (f.size !== 1) {
    fail(
      ctx,
      e.node,
      e.path,
      `a builtin entry holds exactly one check (${BUILTINS.join(', ')}), it has ${f.size === 0 ? 'none' : [...f.keys()].join(' and ')}`,
      'write one attestation entry per check',
    );
  }
  const [key, entry] = [...f.entries()][0]!;
  switch (key) {
    case 'slsaBuilder': {
      const id = required(ctx, entry, e.node!, e.path, key);
      return { check: { slsaBuilder: id }, types: SLSA_TYPES, text: 'SLSA provenance' };
    }
    case 'repositories': {
      const items = list(ctx, entry).map(({ node, path }) => {
        if (!isScalar(node) || typeof node.value !== 'string' || node.value === '')
          fail(ctx, node, path, `expected a repository URL prefix, got ${describe(node)}`);
        if (UNFETCHABLE.test(node.value))
          fail(ctx, node, path, `${printableLine(JSON.stringify(node.value))} has whitespace or a control character, which no URL has`);
        return node.value;
      });
      if (items.length === 0) fail(ctx, entry.node, entry.path, 'at least one repository is required');
      return { check: { repositories: items }, types: SLSA_TYPES, text: 'SLSA provenance' };
    }
    case 'sbom': {
      const nodes = isSeq(entry.node) ? list(ctx, entry) : [{ node: entry.node, path: entry.path }];
      const formats = nodes.map(({ node, path }) => {
        if (!isScalar(node) || (node.value !== 'spdx' && node.value !== 'cyclonedx'))
          fail(ctx, node, path, `${describe(node)} is not an SBOM format; use spdx or cyclonedx`);
        return node.value as 'spdx' | 'cyclonedx';
      });
      if (formats.length === 0) fail(ctx, entry.node, entry.path, 'name spdx, cyclonedx or both');
      return {
        check: { sbom: formats },
        types: formats.flatMap((x) => [...SBOM_TYPES[x]]),
        text: formats.map((x) => (x === 'spdx' ? 'SPDX' : 'CycloneDX')).join(' or '),
      };
    }
    default: {
      const n = entry.node;
      if (!isScalar(n) || typeof n.value !== 'number' || !Number.isInteger(n.value) || n.value < 0) {
        fail(ctx, n, entry.path, `expected a whole number of days, got ${describe(n)}`);
      }
      return { check: { maxPackageAgeDays: n.value as number }, types: [...SBOM_TYPES.spdx, ...SBOM_TYPES.cyclonedx], text: 'SBOM' };
    }
  }
}
