// The README's layout promise: the quickstart, the benchmarks and the packages import the dev
// cluster by name, and nothing outside test/ imports from test/ (bench/ once did, unseen).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { it } from 'node:test';
import { repoRoot } from '@modelship/devcluster/binaries';

const SKIP = new Set(['node_modules', '.git', 'test']);
const SPECIFIER = /(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (!SKIP.has(e.name)) yield* tsFiles(join(dir, e.name));
    } else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

/** Relative imports in `source` (a file at `file`) that resolve into the repository's test/. */
function importsFromTest(file: string, source: string): string[] {
  const testDir = join(repoRoot, 'test') + sep;
  return [...source.matchAll(SPECIFIER)].map((m) => m[1]!).filter((spec) => resolve(dirname(file), spec).startsWith(testDir));
}

it('finds an import from test/ (the check can fail)', () => {
  const file = join(repoRoot, 'bench/runtime/run.ts');
  assert.deepEqual(importsFromTest(file, "import { TestCa } from '../../test/tls/certs.ts';\nimport x from './y.ts';"), [
    '../../test/tls/certs.ts',
  ]);
});

it('no TypeScript file outside test/ imports from test/', () => {
  const found: string[] = [];
  let files = 0;
  for (const file of tsFiles(repoRoot)) {
    files++;
    for (const spec of importsFromTest(file, readFileSync(file, 'utf8'))) found.push(`${relative(repoRoot, file)}: ${spec}`);
  }
  assert.ok(files > 100, `read ${files} files`);
  assert.deepEqual(found, []);
});
