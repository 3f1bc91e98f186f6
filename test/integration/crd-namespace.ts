// Shared set-up of the CRD tests: a namespace of their own on the run's control plane, kubectl
// against it, and ModelDeployment manifests.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { dump } from 'js-yaml';
import { getTestControlPlane, type ControlPlane, type KubectlResult } from '@modelship/devcluster/controlplane';
import { waitFor } from '@modelship/devcluster/wait';
import type { ModelDeployment } from '../../operator/src/api/types.generated.ts';

export function manifest(name: string, spec: Record<string, unknown>): string {
  return dump({ apiVersion: 'modelship.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name }, spec });
}

export function output(r: KubectlResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

export interface CrdNamespace {
  /** Set by the `before` hook. */
  readonly ns: string;
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  get(name: string): Promise<ModelDeployment>;
}

/** Call inside a `describe`: registers the hooks that create the namespace and stop the control plane. */
export function useCrdNamespace(prefix: string): CrdNamespace {
  let cp: ControlPlane | undefined;
  let ns = '';
  const kubectl = (args: string[], input?: string) => (cp as ControlPlane).kubectl(args, input === undefined ? {} : { input });

  before(async () => {
    cp = await getTestControlPlane();
    ns = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    const r = await kubectl(['create', 'namespace', ns]);
    assert.equal(r.code, 0, output(r));
    // The runner installs crds/ and waits for Established; wait for kubectl's discovery too.
    await waitFor(async () => (await kubectl(['get', 'mdep', '-n', ns])).code === 0, { description: 'the mdep resource to be served' });
  });

  after(async () => {
    if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await cp?.stop();
  });

  return {
    get ns() {
      return ns;
    },
    kubectl,
    async get(name: string): Promise<ModelDeployment> {
      const r = await kubectl(['get', 'modeldeployment', name, '-n', ns, '-o', 'json']);
      assert.equal(r.code, 0, output(r));
      return JSON.parse(r.stdout) as ModelDeployment;
    },
  };
}
