// Compile-time contracts: `httpPort: 8000` / `5001` must not compile, other ports must; an
// RTrainingJob without a TrainingScript must not compile. The fixtures are compiled with the TypeScript compiler API in one program (the library and the
// Seldon bindings are type-checked once). tsconfig.json excludes test/fixtures on purpose.
import * as path from 'path';
import * as ts from 'typescript';

const dir = path.join(__dirname, 'fixtures', 'types');
const bad = path.join(dir, 'port-contract-bad.ts');
const good = path.join(dir, 'port-contract-good.ts');
// The bad fixture without its `@ts-expect-error` lines, as a virtual file next to it.
const stripped = path.join(dir, 'port-contract-bad.stripped.ts');
const scriptBad = path.join(dir, 'training-script-bad.ts');
const scriptGood = path.join(dir, 'training-script-good.ts');
const scriptStripped = path.join(dir, 'training-script-bad.stripped.ts');
const rolloutBad = path.join(dir, 'rollout-bad.ts');
const rolloutGood = path.join(dir, 'rollout-good.ts');
const rolloutStripped = path.join(dir, 'rollout-bad.stripped.ts');
const kserveBad = path.join(dir, 'kserve-port-bad.ts');
const kserveGood = path.join(dir, 'kserve-port-good.ts');
const kserveStripped = path.join(dir, 'kserve-port-bad.stripped.ts');
// Each virtual stripped file and the fixture it is made from.
const STRIPPED = new Map<string, string>([[stripped, bad], [scriptStripped, scriptBad], [rolloutStripped, rolloutBad], [kserveStripped, kserveBad]]);
const FIXTURES = [
  bad, good, stripped, scriptBad, scriptGood, scriptStripped, rolloutBad, rolloutGood, rolloutStripped, kserveBad, kserveGood, kserveStripped,
];

// One program for both suites: compiling the library takes most of the time.
let compiled: Map<string, string[]> | undefined;
function compile(): Map<string, string[]> {
  compiled ??= compileFixtures();
  return compiled;
}

function compileFixtures(): Map<string, string[]> {
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
  const strippedText = (from: string) => ts.sys.readFile(from)!.split('\n').filter((l) => !l.includes('@ts-expect-error')).join('\n');
  const virtual = (f: string) => STRIPPED.get(path.resolve(f));
  host.readFile = (f) => { const from = virtual(f); return from ? strippedText(from) : readFile(f); };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => virtual(f) !== undefined || fileExists(f);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, onError, create) => {
    const from = virtual(f);
    return from ? ts.createSourceFile(f, strippedText(from), lang) : getSourceFile(f, lang, onError, create);
  };

  const program = ts.createProgram(FIXTURES, options, host);
  const byFile = new Map<string, string[]>(FIXTURES.map((f) => [f, []]));
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
    const others = [...diagnostics.entries()].filter(([f]) => !FIXTURES.includes(f));
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

describe('compile-time: RTrainingJob requires a TrainingScript', () => {
  let diagnostics: Map<string, string[]>;
  beforeAll(() => {
    diagnostics = compile();
  });

  test('the bad fixture compiles: each omission is an expected error (none unused)', () => {
    expect(diagnostics.get(scriptBad)).toEqual([]);
  });

  test('without @ts-expect-error: no script, a string, and the private constructor each fail', () => {
    const errors = diagnostics.get(scriptStripped)!;
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatch(/Property 'trainingScript' is missing/);
    expect(errors[1]).toMatch(/Type 'string' is not assignable to type 'TrainingScript'/);
    expect(errors[2]).toMatch(/Constructor of class 'TrainingScript' is private/);
  });

  test('both factories compile', () => {
    expect(diagnostics.get(scriptGood)).toEqual([]);
  });
});

describe('compile-time: a canary or a shadow requires `ingress`', () => {
  let diagnostics: Map<string, string[]>;
  beforeAll(() => {
    diagnostics = compile();
  });

  test('the bad fixture compiles: each omission is an expected error (none unused)', () => {
    expect(diagnostics.get(rolloutBad)).toEqual([]);
  });

  test('without @ts-expect-error: a canary and a shadow without ingress, and an unknown ingress, each fail', () => {
    const errors = diagnostics.get(rolloutStripped)!;
    expect(errors).toHaveLength(3);
    // Line numbers of the stripped file (the @ts-expect-error lines removed).
    expect(errors.map((e) => e.split(':')[1])).toEqual(['10', '12', '14']);
    for (const e of errors.slice(0, 2)) expect(e).toMatch(/Property 'ingress' is missing/);
    expect(errors[2]).toMatch(/"nginx"/);
  });

  test('rollouts with ingress, and a single predictor without it, compile', () => {
    expect(diagnostics.get(rolloutGood)).toEqual([]);
  });
});

describe('compile-time port contract of KServeRModel', () => {
  let diagnostics: Map<string, string[]>;
  beforeAll(() => {
    diagnostics = compile();
  });

  test('the bad fixture compiles: each reserved port is an expected error (none unused)', () => {
    expect(diagnostics.get(kserveBad)).toEqual([]);
  });

  test('without @ts-expect-error, each of the nine reserved ports fails and names its owner', () => {
    const errors = diagnostics.get(kserveStripped)!;
    expect(errors).toHaveLength(9);
    const owners: [number, RegExp][] = [
      [8012, /queue-proxy \(HTTP\/1 backend\)/], [8013, /queue-proxy \(HTTP\/2 backend\)/], [8022, /queue-proxy \(admin\)/],
      [9090, /queue-proxy \(autoscaler metrics\)/], [9091, /queue-proxy \(user metrics\)/], [9081, /KServe's agent/],
      [9088, /KServe's metrics aggregation/], [8008, /queue-proxy \(profiling\)/], [8112, /queue-proxy \(HTTPS backend/],
    ];
    owners.forEach(([port, owner], i) => {
      expect(errors[i]).toContain(`"port ${port} is owned by `);
      expect(errors[i]).toMatch(owner);
      expect(errors[i]).toContain('in every KServe predictor pod: use 8080"');
    });
  });

  test('the default, 8080, 9000 and a computed number compile', () => {
    expect(diagnostics.get(kserveGood)).toEqual([]);
  });
});
