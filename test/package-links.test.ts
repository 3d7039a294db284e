/**
 * The README and the reference docs as an npm user reads them, in node_modules/rmlops-cdk8s or
 * on npmjs.com: every relative link must name a file the package ships (`npm pack --dry-run`),
 * every #anchor a heading of that file, and the package must say where its repository is.
 */
import * as fs from 'fs';
import * as path from 'path';
import { packedFiles } from './support/pack';

const ROOT = path.resolve(__dirname, '..');
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/`/g, '').replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function anchors(markdown: string): Set<string> {
  const noCode = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return new Set([...noCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1])));
}

/** Relative links `[text](target)` outside code blocks. */
function links(markdown: string): string[] {
  const text = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/i.test(t));
}

/** The links of `file` (whose text is `markdown`) that an npm user would find dead. */
function deadLinks(file: string, markdown: string, packed: Set<string>): string[] {
  const dead: string[] = [];
  for (const target of links(markdown)) {
    const [p, anchor] = target.split('#');
    const resolved = p === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), p)).replace(/\/$/, '');
    const isDir = [...packed].some((f) => f.startsWith(`${resolved}/`));
    if (p !== '' && !packed.has(resolved) && !isDir) {
      dead.push(`${target}: ${resolved} is not in the package`);
      continue;
    }
    const headings = resolved === file ? markdown : isDir ? '' : fs.readFileSync(path.join(ROOT, resolved), 'utf8');
    if (anchor !== undefined && !anchors(headings).has(anchor)) dead.push(`${target}: ${resolved} has no heading with the anchor #${anchor}`);
  }
  return dead;
}

describe('the package an npm user installs', () => {
  const packed = new Set(packedFiles());
  const docs = [...packed].filter((f) => f === 'README.md' || (/^(docs|examples)\/.*\.md$/.test(f)));

  test('ships the reference docs and the examples the README points to', () => {
    expect(docs).toEqual(expect.arrayContaining(['README.md', 'docs/constructs.md', 'docs/images.md', 'docs/library.md', 'examples/README.md']));
    expect(packed).toContain('examples/iris/train.R');
    expect(packed).toContain('examples/mtcars/train.R');
    expect(packed).toContain('docs/openapi/seldon-v1.yaml');
  });

  test('names its repository, homepage and issue tracker', () => {
    expect(PKG.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/[^/]+\/rmlops-cdk8s\.git$/) });
    const repo = PKG.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');
    expect(PKG.homepage).toBe(`${repo}#readme`);
    expect(PKG.bugs).toEqual({ url: `${repo}/issues` });
  });

  test.each(docs)('every relative link of %s names a shipped file and an existing heading', (file) => {
    expect(deadLinks(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), packed)).toEqual([]);
  });

  test('the link check can fail: files not shipped, missing headings, links inside code ignored', () => {
    const md = '# Top\n\n## A `b`: c\n[x](../bench/results.md) [y](docs/images.md#no-such) [z](#a-b-c) [w](#top) [v](https://e.org/x)\n'
      + '```md\n[ignored](nowhere.md)\n```\n[u](docs/openapi/) [t](examples/iris/train.R)\n';
    expect(deadLinks('docs/x.md', md, packed)).toEqual([
      '../bench/results.md: bench/results.md is not in the package',
      'docs/images.md#no-such: docs/docs/images.md is not in the package',
      'docs/openapi/: docs/docs/openapi is not in the package',
      'examples/iris/train.R: docs/examples/iris/train.R is not in the package',
    ]);
    expect(deadLinks('README.md', md, packed)).toEqual([
      '../bench/results.md: ../bench/results.md is not in the package',
      'docs/images.md#no-such: docs/images.md has no heading with the anchor #no-such',
    ]);
  });
});
