// Compile-time port contract: `httpPort: 8000` / `5001` must not compile, other ports must.
// The fixtures are compiled with the TypeScript compiler API in one program (the library and the
// Seldon bindings are type-checked once). tsconfig.json excludes test/fixtures on purpose.
import * as path from 'path';
import * as ts from 'typescript';

const dir = path.join(__dirname, 'fixtures', 'types');
const bad = path.join(dir, 'port-contract-bad.ts');
const good = path.join(dir, 'port-contract-good.ts');
// The bad fixture without its `@ts-expect-error` lines, as a virtual file next to it.
const stripped = path.join(dir, 'port-contract-bad.stripped.ts');

function compile(): Map<string, string[]> {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    noUnusedLocals: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    esModuleInterop: true,
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const strippedText = () => ts.sys.readFile(bad)!.split('\n').filter((l) => !l.includes('@ts-expect-error')).join('\n');
  host.readFile = (f) => (path.resolve(f) === stripped ? strippedText() : readFile(f));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => path.resolve(f) === stripped || fileExists(f);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, onError, create) =>
    path.resolve(f) === stripped ? ts.createSourceFile(f, strippedText(), lang) : getSourceFile(f, lang, onError, create);

  const program = ts.createProgram([bad, good, stripped], options, host);
  const byFile = new Map<string, string[]>([[bad, []], [good, []], [stripped, []]]);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const file = d.file ? path.resolve(d.file.fileName) : '<global>';
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    const text = `${path.basename(file)}:${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    if (!byFile.has(file)) byFile.set(file, []);
    byFile.get(file)!.push(text);
  }
  return byFile;
}

describe('compile-time port contract of SeldonRModel', () => {
  let diagnostics: Map<string, string[]>;
  beforeAll(() => {
    diagnostics = compile();
  });

  test('no diagnostics outside the fixtures (the library itself compiles)', () => {
    const others = [...diagnostics.entries()].filter(([f]) => ![bad, good, stripped].includes(f));
    expect(others).toEqual([]);
  });

  test('the bad fixture compiles: each executor port is an expected error (none unused)', () => {
    expect(diagnostics.get(bad)).toEqual([]);
  });

  test('without @ts-expect-error, 8000 and 5001 fail with the explanation', () => {
    const errors = diagnostics.get(stripped)!;
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/"port 8000 is owned by the Seldon executor sidecar: use 9000"/);
    expect(errors[1]).toMatch(/"port 5001 is owned by the Seldon executor sidecar: use 9000"/);
  });

  test('9001, 9000, the default and a computed number compile', () => {
    expect(diagnostics.get(good)).toEqual([]);
  });
});
