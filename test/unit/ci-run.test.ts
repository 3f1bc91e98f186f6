// .ci/run is what CI executes: it must run the README's test command and install the Debian
// packages the e2e cluster's preflight asks for.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '@modelship/devcluster/binaries';
import { APT_PACKAGES } from '@modelship/devcluster/cluster';

const ciRun = readFileSync(join(repoRoot, '.ci/run'), 'utf8');
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

test('.ci/run installs exactly the packages the e2e preflight names', () => {
  const listed = /^e2e_packages="([^"]+)"/m.exec(ciRun)?.[1]?.split(/\s+/);
  assert.ok(listed, 'e2e_packages= line in .ci/run');
  assert.deepEqual([...listed].sort(), [...APT_PACKAGES].sort());
});

test(".ci/run runs the README's set-up and test commands", () => {
  const block = /## Set up and test[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1]?.trim().split('\n');
  assert.deepEqual(block, ['npm ci', 'npm test']);
  const commands = ciRun
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^npm /.test(l));
  assert.deepEqual(commands, block);
});
