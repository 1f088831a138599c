// What a library user writes must have a name they can import: the type of each argument of an
// exported function, constructor or method, and of what it returns, when it is a named type of
// Provenant's own (an inline object type or a type of Node's needs none). And the names the
// documentation gives for import are exported.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { ROOT } from '../helpers/cli.ts';

const SRC = join(ROOT, 'src');
const ENTRY = join(SRC, 'index.ts');

/** Provenant's named types a parameter or result of the public API is written with, that src/index.ts does not export; and every name it exports. */
function publicApi(): { unnamed: string[]; names: Set<string> } {
  const program = ts.createProgram([ENTRY], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    allowImportingTsExtensions: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const resolved = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const entry = program.getSourceFile(ENTRY);
  assert.ok(entry !== undefined);
  const moduleSymbol = checker.getSymbolAtLocation(entry);
  assert.ok(moduleSymbol !== undefined);
  const exported = new Set(checker.getExportsOfModule(moduleSymbol).map(resolved));
  const missing = new Map<string, string>();

  /** The named types in a type as written: through unions, arrays, readonly and type arguments (Promise<T>), not into object literals. */
  const visitType = (node: ts.TypeNode | undefined, where: string): void => {
    if (node === undefined) return;
    if (ts.isTypeReferenceNode(node)) {
      let symbol = checker.getSymbolAtLocation(node.typeName);
      if (symbol !== undefined) symbol = resolved(symbol);
      const decl = symbol?.declarations?.[0];
      if (
        symbol !== undefined &&
        decl !== undefined &&
        !(symbol.flags & ts.SymbolFlags.TypeParameter) &&
        decl.getSourceFile().fileName.startsWith(`${SRC}/`) &&
        !exported.has(symbol)
      ) {
        const file = decl.getSourceFile().fileName.slice(SRC.length + 1);
        const key = `${symbol.name} (${file})`;
        if (!missing.has(key)) missing.set(key, where);
      }
      for (const arg of node.typeArguments ?? []) visitType(arg, where);
    } else if (ts.isUnionTypeNode(node) || ts.isIntersectionTypeNode(node)) {
      for (const t of node.types) visitType(t, where);
    } else if (ts.isArrayTypeNode(node)) {
      visitType(node.elementType, where);
    } else if (ts.isTypeOperatorNode(node) || ts.isParenthesizedTypeNode(node)) {
      visitType(node.type, where);
    } else if (ts.isTupleTypeNode(node)) {
      for (const t of node.elements) visitType(ts.isNamedTupleMember(t) ? t.type : t, where);
    }
  };
  const visitSignature = (decl: ts.SignatureDeclaration, where: string): void => {
    for (const p of decl.parameters) visitType(p.type, `${where}(${p.name.getText()})`);
    visitType(decl.type, `${where}: result`);
  };
  const isPublic = (member: ts.ClassElement): boolean =>
    !(member.name !== undefined && ts.isPrivateIdentifier(member.name)) &&
    !(ts.getCombinedModifierFlags(member as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected));

  /** Exported as a type only (`export { type X }`): a class a user is handed, never constructs or calls statically. */
  const typeOnly = (e: ts.Symbol): boolean =>
    (e.declarations ?? []).some((d) => ts.isExportSpecifier(d) && (d.isTypeOnly || d.parent.parent.isTypeOnly));

  for (const e of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = resolved(e);
    for (const decl of symbol.declarations ?? []) {
      if (ts.isFunctionDeclaration(decl)) visitSignature(decl, e.name);
      if (ts.isClassDeclaration(decl) && !typeOnly(e)) {
        for (const member of decl.members) {
          if (!isPublic(member)) continue;
          if (ts.isConstructorDeclaration(member)) visitSignature(member, `new ${e.name}`);
          if (ts.isMethodDeclaration(member)) visitSignature(member, `${e.name}.${member.name.getText()}`);
        }
      }
    }
  }
  return {
    unnamed: [...missing].map(([name, where]) => `${name} <- ${where}`).sort(),
    names: new Set(checker.getExportsOfModule(moduleSymbol).map((e) => e.name)),
  };
}

const api = publicApi();

/** The part of a Markdown text from a heading to the next heading of its level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, heading);
  const level = heading.split(' ')[0];
  const end = text.indexOf(`\n${level} `, start + heading.length + 2);
  return text.slice(start, end === -1 ? undefined : end);
}

describe('the public API', () => {
  it('exports every named type of an argument or result of an exported function, constructor or method', () => {
    assert.deepEqual(api.unnamed, []);
  });

  it('exports the names the documentation imports from @provenant/cli, and the types and classes it names', async () => {
    const index = await import('../../src/index.ts');
    const docs = [
      section(await readFile(join(ROOT, 'README.md'), 'utf8'), '## The library'),
      section(await readFile(join(ROOT, 'docs/config.md'), 'utf8'), '## Library'),
    ];
    const imports = docs.flatMap((text) => [...text.matchAll(/^import \{([^}]*)\} from '([^']+)';$/gm)]);
    assert.ok(imports.length >= 3, 'the documentation imports from the package');
    for (const [line, names, from] of imports) {
      if (from?.startsWith('node:')) continue;
      assert.equal(from, '@provenant/cli', line);
      for (const name of (names ?? '').split(',').map((n) => n.trim())) {
        if (name === '' || name.startsWith('type ')) continue;
        assert.ok(name in index, `${name} (${line}) is not exported`);
      }
    }
    // `StepProgress`, `ConfigError`, `DockerArchiveStore.defaultTarget()`: a type or class, by its name.
    const named = new Set(docs.flatMap((text) => [...text.matchAll(/`([A-Z][a-z]\w*)/g)].map((m) => m[1] ?? '')));
    named.delete('ReadonlyMap');
    assert.ok(named.has('StepProgress') && named.has('ConfigError'), [...named].join(', '));
    assert.deepEqual(
      [...named].filter((n) => !api.names.has(n)),
      [],
    );
  });
});
