// `npm run quickstart` — try Modelship in one command.
//   (no KUBECONFIG)  bring up the local single-node cluster (devcluster/src/cluster.ts: kubelet,
//                    containerd, CNI, kube-proxy, metrics-server; images built here from
//                    runtime/Dockerfile and operator/Dockerfile; a model server on the node),
//                    `helm install` the chart (CRD + operator pod), apply examples/iris, wait for
//                    Ready, send a prediction, print how to call it and how to tear down.
//   down             stop the local cluster, remove everything it created.
//   (KUBECONFIG set) use that cluster instead: install the CRD, start the operator on this machine
//                    against it, apply examples/iris. The cluster must be able to pull the runtime
//                    image: set MODELSHIP_RUNTIME_IMAGE (an image you pushed, see README); the example's
//                    model is inside that image (MODELSHIP_MODEL_URI overrides where it comes from).
// Needs root for the local cluster (containerd, kubelet, iptables, a bridge).

import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump, load as loadYaml } from 'js-yaml';
import { resolveBinaries } from '@modelship/devcluster/binaries';
import { clusterDown, clusterUp } from '@modelship/devcluster/cli';
import type { ClusterState } from '@modelship/devcluster/cluster';
import { runKubectl } from '@modelship/devcluster/kubectl';
import { chartDir, runHelm } from '@modelship/devcluster/helm';
import { splitImageRef } from '@modelship/devcluster/images';
import { waitFor } from '@modelship/devcluster/wait';

const repo = resolve(fileURLToPath(import.meta.url), '../..');
const say = (line: string) => process.stderr.write(`quickstart: ${line}\n`);

async function kubectlFn(kubeconfig: string) {
  const bin = (await resolveBinaries(['kubectl'])).kubectl;
  return async (args: string[], input?: string) => {
    const r = await runKubectl(bin, kubeconfig, join(repo, 'node_modules/.cache/kubectl'), args, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
}

/** Starts the operator detached (it outlives this command); returns its PID. */
function startOperatorDetached(kubeconfig: string, image: string, pullPolicy: string, logPath: string): number {
  const fd = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [
      join(repo, 'operator/src/main.ts'),
      '--kubeconfig',
      kubeconfig,
      '--runtime-image',
      image,
      '--runtime-image-pull-policy',
      pullPolicy,
      '--http-port',
      '0',
      '--http-bind-address',
      '127.0.0.1',
    ],
    { detached: true, stdio: ['ignore', fd, fd] },
  );
  child.unref();
  return child.pid!;
}

/** examples/iris as written (its model is inside the runtime image), or with the model URI given. */
async function applyIris(kubectl: (a: string[], i?: string) => Promise<string>, modelUri?: string): Promise<void> {
  const md = loadYaml(readFileSync(join(repo, 'examples/iris/modeldeployment.yaml'), 'utf8')) as { spec: { model: { uri: string } } };
  if (modelUri) md.spec.model.uri = modelUri;
  await kubectl(['apply', '--server-side', '--field-manager=modelship-quickstart', '-f', '-'], dump(md));
}

async function local(): Promise<void> {
  const t0 = Date.now();
  const state = (await clusterUp('node')) as ClusterState;
  const kubectl = await kubectlFn(state.kubeconfigPath);
  const image = (ref: string, key: string) => {
    const { repository, tag } = splitImageRef(ref);
    return [`${key}.repository=${repository}`, `${key}.tag=${tag}`, `${key}.pullPolicy=Never`];
  };
  const helmArgs = [
    'upgrade',
    '--install',
    'modelship',
    chartDir,
    '-n',
    'modelship-system',
    '--create-namespace',
    ...[...image(state.operatorImage, 'image'), ...image(state.runtimeImage, 'runtime.image')].flatMap((v) => ['--set', v]),
    '--wait',
    '--timeout',
    '300s',
  ];
  say(`helm ${helmArgs.join(' ').replace(chartDir, 'charts/modelship')}`);
  const installed = await runHelm(helmArgs, { kubeconfig: state.kubeconfigPath, timeoutMs: 330_000 });
  if (installed.code !== 0) throw new Error(`helm install failed:\n${installed.stderr}${installed.stdout}`);
  say('operator running in the cluster (namespace modelship-system)');

  await applyIris(kubectl);
  say('applied examples/iris; waiting for Ready');
  await waitFor(
    async () => {
      const r = await kubectl(['get', 'mdep', 'iris', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).catch(() => '');
      return r.trim() === 'True';
    },
    { timeoutMs: 300_000, intervalMs: 1_000, description: 'mdep/iris Ready' },
  );
  const ip = (await kubectl(['get', 'svc', 'iris', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const body = '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}';
  const res = await fetch(`http://${ip}/v1/models/iris:predict`, { method: 'POST', body });
  const text = await res.text();
  if (!res.ok) throw new Error(`prediction failed: ${res.status} ${text}`);
  process.stdout.write(`
${await kubectl(['get', 'mdep', 'iris', '-o', 'wide'])}
Prediction (HTTP ${res.status}): ${text}

Ready in ${((Date.now() - t0) / 1000).toFixed(0)}s. Try it:
  export KUBECONFIG=${state.kubeconfigPath}
  curl -s -d '${body}' -X POST http://${ip}/v1/models/iris:predict
  curl -s -d '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,4],"data":[5.1,3.5,1.4,0.2]}]}' http://${ip}/v2/models/iris/infer
  kubectl get mdep iris -o yaml          # kubectl: ${(await resolveBinaries(['kubectl'])).kubectl}
  kubectl -n modelship-system logs deploy/modelship
Tear down (stops every process, removes the bridge, iptables chains, mounts):
  npm run quickstart -- down
`);
}

async function external(kubeconfig: string): Promise<void> {
  const image = process.env.MODELSHIP_RUNTIME_IMAGE;
  // optional: examples/iris reads the model from inside the runtime image
  const uri = process.env.MODELSHIP_MODEL_URI;
  if (!image) {
    throw new Error(
      'KUBECONFIG is set, so the quickstart uses that cluster. It needs MODELSHIP_RUNTIME_IMAGE (the runtime image, pushed where the ' +
        'cluster can pull it; see README "Quickstart"). Unset KUBECONFIG to use the local cluster instead.',
    );
  }
  const kubectl = await kubectlFn(kubeconfig);
  await kubectl(['apply', '--server-side', '-f', join(repo, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/modeldeployments.modelship.dev']);
  const logPath = join(repo, 'quickstart-operator.log');
  const pid = startOperatorDetached(kubeconfig, image, 'IfNotPresent', logPath);
  say(`operator running on this machine (pid ${pid}, log ${logPath}); stop it with: kill ${pid}`);
  await applyIris(kubectl, uri);
  await kubectl(['wait', '--for=condition=Ready', '--timeout=300s', 'mdep/iris']);
  process.stdout.write(`${await kubectl(['get', 'mdep', 'iris', '-o', 'wide'])}
Call it from inside the cluster (or through kubectl port-forward svc/iris 8080:80):
  curl -s -d '{"instances": [[5.1, 3.5, 1.4, 0.2]]}' -X POST http://iris.default.svc.cluster.local/v1/models/iris:predict
Tear down: kubectl delete mdep iris; kill ${pid}
`);
}

const cmd = process.argv[2];
try {
  if (cmd === 'down') say((await clusterDown()) ? 'local cluster and operator stopped; nothing left behind' : 'no local cluster recorded');
  else if (cmd === undefined || cmd === 'up') {
    if (process.env.KUBECONFIG && process.env.MODELSHIP_QUICKSTART_LOCAL !== '1') await external(process.env.KUBECONFIG);
    else await local();
  } else {
    say('usage: npm run quickstart [-- up|down]');
    process.exitCode = 2;
  }
} catch (err) {
  say(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
