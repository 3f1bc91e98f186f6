// The dev cluster's prerequisites: which Debian packages are missing → install (root with apt),
// fail fast with the exact command (otherwise), or nothing to do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { APT_PACKAGES, HOST_TOOLS, aptCommands, planPrerequisites, type MachineFacts } from '@modelship/devcluster/prerequisites';

const facts = (f: Partial<MachineFacts>): MachineFacts => ({ isRoot: true, hasApt: true, missingTools: [], ...f });

describe('planPrerequisites', () => {
  it('nothing missing, root: nothing to do', () => {
    assert.deepEqual(planPrerequisites(facts({})), { action: 'none' });
  });

  it('root with apt: installs exactly the missing packages, with the apt commands .ci/run used to run', () => {
    const plan = planPrerequisites(facts({ missingTools: ['runc', 'buildah'] }));
    assert.equal(plan.action, 'install');
    assert.ok(plan.action === 'install');
    assert.deepEqual(plan.packages, ['buildah', 'runc']);
    assert.deepEqual(plan.commands, [
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'buildah', 'runc'],
    ]);
  });

  it('a missing tool binary maps to the package that ships it, without duplicates', () => {
    const plan = planPrerequisites(facts({ missingTools: ['bridge', 'portmap', 'modprobe', 'ctr'] }));
    assert.ok(plan.action === 'install');
    assert.deepEqual(plan.packages, ['containerd', 'containernetworking-plugins', 'kmod']);
  });

  it('not root: fails fast naming root and the exact apt command', () => {
    const plan = planPrerequisites(facts({ isRoot: false, missingTools: ['conntrack'] }));
    assert.ok(plan.action === 'fail');
    assert.match(plan.message, /must run as root/);
    assert.ok(
      plan.message.includes('sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends conntrack'),
      plan.message,
    );
  });

  it('not root, nothing missing: still fails (the node needs root)', () => {
    const plan = planPrerequisites(facts({ isRoot: false }));
    assert.ok(plan.action === 'fail');
    assert.doesNotMatch(plan.message, /missing packages/);
  });

  it('root without apt: fails naming the packages instead of guessing a package manager', () => {
    const plan = planPrerequisites(facts({ hasApt: false, missingTools: ['containerd'] }));
    assert.ok(plan.action === 'fail');
    assert.match(plan.message, /install the Debian\/Ubuntu packages containerd/);
  });

  it('APT_PACKAGES are what .ci/run installed before (every host tool has its package there)', () => {
    assert.deepEqual([...APT_PACKAGES].sort(), [
      'buildah',
      'conntrack',
      'containerd',
      'containernetworking-plugins',
      'curl',
      'debootstrap',
      'iptables',
      'kmod',
      'runc',
    ]);
    for (const t of Object.values(HOST_TOOLS)) assert.ok(APT_PACKAGES.includes(t.pkg));
    assert.deepEqual(aptCommands([]).length, 2);
  });
});
