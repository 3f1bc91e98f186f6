// The bench:operator commands the README and BENCHMARKS.md give to reproduce results must name only
// options bench/operator/run.ts declares; a renamed or removed option would otherwise leave a
// reproduce line that fails (run.ts runs the bench on import, so its options are read from its source).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '@modelship/devcluster/binaries';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

function declaredOptions(source: string): Set<string> {
  const block = /parseArgs\(\{\s*options:\s*\{([\s\S]*?)\n {2}\},\n\}\);/.exec(source)?.[1];
  assert.ok(block, 'bench/operator/run.ts declares its options with parseArgs');
  return new Set([...block.matchAll(/^\s*'?([a-z][a-z-]*)'?:\s*\{/gm)].map((m) => m[1]!));
}

function documentedFlags(text: string): string[] {
  return [...text.matchAll(/npm run bench:operator -- ([^`\n|)]*)/g)].flatMap((m) =>
    [...m[1]!.matchAll(/--([a-z][a-z-]*)/g)].map((f) => f[1]!),
  );
}

test('every option in a documented bench:operator command is one run.ts declares', () => {
  const declared = declaredOptions(read('bench/operator/run.ts'));
  assert.ok(declared.has('mds') && declared.has('catch-up-only'), `parsed the options block: ${[...declared].join(', ')}`);
  for (const doc of ['README.md', 'BENCHMARKS.md']) {
    const flags = documentedFlags(read(doc));
    assert.ok(flags.length > 0, `${doc} gives bench:operator commands`);
    const unknown = flags.filter((f) => !declared.has(f));
    assert.deepEqual(unknown, [], `${doc} names options run.ts does not declare`);
  }
});

test('the check finds an option that is not declared', () => {
  assert.deepEqual(documentedFlags('`npm run bench:operator -- --mds 10 --no-such-flag`'), ['mds', 'no-such-flag']);
});
