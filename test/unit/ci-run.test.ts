// .ci/run is what CI executes: exactly the README's set-up and test commands, nothing else (the
// dev cluster's prerequisites are installed by `npm test` itself, devcluster/src/prerequisites.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@modelship/devcluster/binaries';

const ciRun = readFileSync(join(repoRoot, '.ci/run'), 'utf8');
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

test(".ci/run runs the README's set-up and test commands and nothing else", () => {
  const block = /## Set up and test[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split('\n');
  assert.deepEqual(block, ['npm ci', 'npm test']);
  const commands = ciRun
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('set -') && !l.startsWith('cd '));
  assert.deepEqual(commands, block);
  assert.match(ciRun, /^set -euo pipefail$/m);
  assert.doesNotMatch(ciRun, /apt-get/, 'packages are installed by npm test (prerequisites.ts), not by .ci/run');
});
