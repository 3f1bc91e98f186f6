import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assetEnvName, cacheRoot, locateBinary, pinnedVersions } from '@modelship/devcluster/binaries';

describe('binary lookup', () => {
  let root: string;
  const exe = async (path: string) => {
    await writeFile(path, '#!/bin/sh\n');
    await chmod(path, 0o755);
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'harness-bin-'));
    for (const d of ['explicit', 'assets', 'cache']) await mkdir(join(root, d));
    await exe(join(root, 'explicit', 'my-apiserver'));
    await exe(join(root, 'assets', 'kube-apiserver'));
    await exe(join(root, 'cache', 'kube-apiserver'));
    await exe(join(root, 'cache', 'etcd'));
    await writeFile(join(root, 'assets', 'etcd'), 'not executable');
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('maps names to TEST_ASSET_ variables', () => {
    assert.equal(assetEnvName('kube-apiserver'), 'TEST_ASSET_KUBE_APISERVER');
    assert.equal(assetEnvName('etcd'), 'TEST_ASSET_ETCD');
    assert.equal(assetEnvName('kube-controller-manager'), 'TEST_ASSET_KUBE_CONTROLLER_MANAGER');
  });

  it('prefers TEST_ASSET_<NAME>, then KUBEBUILDER_ASSETS, then the cache', () => {
    const cache = join(root, 'cache');
    const env = { TEST_ASSET_KUBE_APISERVER: join(root, 'explicit', 'my-apiserver'), KUBEBUILDER_ASSETS: join(root, 'assets') };
    assert.equal(locateBinary('kube-apiserver', env, cache), join(root, 'explicit', 'my-apiserver'));
    assert.equal(
      locateBinary('kube-apiserver', { KUBEBUILDER_ASSETS: join(root, 'assets') }, cache),
      join(root, 'assets', 'kube-apiserver'),
    );
    assert.equal(locateBinary('kube-apiserver', {}, cache), join(cache, 'kube-apiserver'));
    // a non-executable file in KUBEBUILDER_ASSETS is skipped
    assert.equal(locateBinary('etcd', { KUBEBUILDER_ASSETS: join(root, 'assets') }, cache), join(cache, 'etcd'));
    assert.equal(locateBinary('kubectl', {}, cache), undefined);
  });

  it('rejects a TEST_ASSET_ path that is not executable', () => {
    assert.throws(
      () => locateBinary('etcd', { TEST_ASSET_ETCD: join(root, 'assets', 'etcd') }, join(root, 'cache')),
      /TEST_ASSET_ETCD=.* is not an executable file/,
    );
  });

  it('uses the same cache location and versions as build.sh', () => {
    assert.equal(cacheRoot({ MODELSHIP_CACHE_DIR: '/x/y' }), '/x/y');
    assert.equal(cacheRoot({ XDG_CACHE_HOME: '/c', HOME: '/h' }), '/c/modelship');
    const v = pinnedVersions();
    assert.match(v.k8s, /^v1\.\d+\.\d+$/);
    assert.match(v.etcd, /^v3\.\d+\.\d+$/);
  });
});
