// The project's test runner: `node test/run.ts [static|unit|integration|e2e|all] [path-filter ...]`.
//   static:      the type checker (tsc --noEmit), eslint and prettier --check over the repository:
//                Node runs the TypeScript by stripping types, so a type error would land unseen
//   unit:        node --test over test/unit/**/*.test.ts and test/runtime/**/*.test.ts
//   integration: one control plane (etcd + kube-apiserver + kube-controller-manager, crds/ installed)
//                shared by node --test --test-concurrency=1 over test/integration/**/*.test.ts
//   e2e:         one real single-node cluster (devcluster/src/cluster.ts: kubelet, containerd, CNI,
//                kube-proxy, metrics-server, images built here) shared by node --test --test-concurrency=1
//                over test/e2e/**/*.test.ts; needs root and Debian packages, checked (and installed
//                when root with apt) before the first phase: devcluster/src/prerequisites.ts
// No argument (npm test) or `all`: the four phases in that order (static only without filters).
// Path filters (substrings) narrow the files of each phase. The last line printed is
// "N passed, N failed" (all phases together); the exit code is non-zero if anything failed.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from '@modelship/devcluster/binaries';
import { startCluster, type Cluster } from '@modelship/devcluster/cluster';
import { startControlPlane, type ControlPlane } from '@modelship/devcluster/controlplane';
import { ensurePrerequisites } from '@modelship/devcluster/prerequisites';
import { inBatches, startBuildsEarly } from './early-builds.ts';
import { combinedLine, formatSummary, parseTapSummary, sumSummaries, type TapSummary } from './summary.ts';
import { errorMessage } from '@modelship/devcluster/wait';

type Phase = 'static' | 'unit' | 'integration' | 'e2e';

const PHASE_DIRS: Record<Phase, string[]> = {
  static: [],
  unit: ['test/unit', 'test/runtime'],
  integration: ['test/integration'],
  e2e: ['test/e2e'],
};
/** Per-test hang guard (a test can set its own `timeout`). */
const TEST_TIMEOUT_MS = 600_000;

async function findTests(dirs: string[], filters: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const dir of dirs) {
    const abs = join(repoRoot, dir);
    if (!existsSync(abs)) continue;
    for (const entry of await readdir(abs, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.test.ts')) continue;
      const rel = relative(repoRoot, join(entry.parentPath, entry.name));
      if (rel.split('/').includes('node_modules')) continue;
      if (filters.length > 0 && !filters.some((f) => rel.includes(f))) continue;
      files.push(rel);
    }
  }
  return files.sort();
}

let currentChild: ChildProcess | undefined;
let controlPlane: ControlPlane | undefined;
let cluster: Cluster | undefined;

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    currentChild?.kill('SIGTERM');
    // With a control plane running, the harness's own handler stops it and exits.
    if (!controlPlane && !cluster) process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
  });
}

async function runNodeTest(
  files: string[],
  extraArgs: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; summary: TapSummary | undefined }> {
  const tapDir = await mkdtemp(join(tmpdir(), 'modelship-test-'));
  const tapFile = join(tapDir, 'report.tap');
  try {
    const args = [
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=tap',
      `--test-reporter-destination=${tapFile}`,
      `--test-timeout=${TEST_TIMEOUT_MS}`,
      ...extraArgs,
      ...files,
    ];
    const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: repoRoot, env });
    currentChild = child;
    const code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(1));
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    currentChild = undefined;
    let summary: TapSummary | undefined;
    try {
      summary = parseTapSummary(await readFile(tapFile, 'utf8'));
    } catch {
      summary = undefined;
    }
    return { code, summary };
  } finally {
    await rm(tapDir, { recursive: true, force: true });
  }
}

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!extra.KUBECONFIG) {
    // unit tests must not reach whatever cluster the caller's shell points at
    delete env.KUBECONFIG;
    delete env.MODELSHIP_TEST_AUDIT_LOG;
    delete env.MODELSHIP_TEST_CP_DIR;
    delete env.MODELSHIP_TEST_CLUSTER_DIR;
  }
  return env;
}

interface PhaseResult {
  passed: number;
  failed: number;
  ok: boolean;
  summary?: TapSummary;
}

/** Each static check is one "test": its command's output is shown only when it fails. */
const STATIC_CHECKS: { name: string; args: string[] }[] = [
  { name: 'typecheck (tsc --noEmit)', args: ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit'] },
  { name: 'lint (eslint)', args: ['node_modules/eslint/bin/eslint.js', '.'] },
  { name: 'format (prettier --check)', args: ['node_modules/prettier/bin/prettier.cjs', '--check', '--log-level=warn', '.'] },
];

async function runStaticChecks(): Promise<PhaseResult> {
  process.stdout.write(`\n── static checks (${STATIC_CHECKS.length}) ──\n`);
  let passed = 0;
  let failed = 0;
  for (const check of STATIC_CHECKS) {
    const started = Date.now();
    const child = spawn(process.execPath, check.args, { cwd: repoRoot, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    currentChild = child;
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number>((resolve) => {
      child.on('error', () => resolve(1));
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    currentChild = undefined;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (code === 0) {
      passed++;
      process.stdout.write(`✔ ${check.name} (${secs}s)\n`);
    } else {
      failed++;
      process.stdout.write(`✖ ${check.name} (${secs}s, exit ${code})\n${output}\n`);
    }
  }
  return { passed, failed, ok: failed === 0 };
}

async function runPhase(phase: Phase, filters: string[]): Promise<PhaseResult> {
  if (phase === 'static') return runStaticChecks();
  const files = await findTests(PHASE_DIRS[phase], filters);
  if (files.length === 0) {
    process.stdout.write(`\n${phase}: no test files\n`);
    return { passed: 0, failed: 0, ok: true };
  }
  process.stdout.write(`\n── ${phase} tests (${files.length} files) ──\n`);
  let env = childEnv();
  const extra: string[] = [];
  if (phase === 'integration') {
    const started = Date.now();
    try {
      controlPlane = await startControlPlane({
        crdDir: join(repoRoot, 'crds'),
        log: (line) => process.stderr.write(`harness: ${line}\n`),
      });
    } catch (err) {
      process.stderr.write(`harness: could not start the control plane: ${errorMessage(err)}\n`);
      return { passed: 0, failed: 1, ok: false };
    }
    process.stderr.write(`harness: control plane up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    env = childEnv({
      KUBECONFIG: controlPlane.kubeconfigPath,
      MODELSHIP_TEST_AUDIT_LOG: controlPlane.auditLogPath,
      MODELSHIP_TEST_CP_DIR: controlPlane.dir,
    });
    extra.push('--test-concurrency=1');
  }
  if (phase === 'e2e') {
    // a real single-node cluster (devcluster/src/cluster.ts): kubelet, containerd, CNI, kube-proxy
    const started = Date.now();
    try {
      cluster = await startCluster({ log: (line) => process.stderr.write(`cluster: ${line}\n`) });
    } catch (err) {
      process.stderr.write(`cluster: could not start the e2e cluster: ${errorMessage(err)}\n`);
      return { passed: 0, failed: 1, ok: false };
    }
    process.stderr.write(`cluster: up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
    env = childEnv({
      KUBECONFIG: cluster.kubeconfigPath,
      MODELSHIP_TEST_CP_DIR: cluster.cp.dir,
      MODELSHIP_TEST_CLUSTER_DIR: cluster.dir,
    });
    extra.push('--test-concurrency=1');
  }
  try {
    let passed = 0;
    let failed = 0;
    let ok = true;
    const summaries: TapSummary[] = [];
    for (const batch of inBatches(files)) {
      const { code, summary } = await runNodeTest(batch, extra, env);
      const batchFailed = (summary?.fail ?? 0) + (summary?.cancelled ?? 0);
      passed += summary?.pass ?? 0;
      // a crash outside any test (or a missing report) must not read as "0 failed"
      failed += code !== 0 && batchFailed === 0 ? 1 : batchFailed;
      ok &&= code === 0;
      if (summary) summaries.push(summary);
    }
    return summaries.length > 0 ? { passed, failed, ok, summary: sumSummaries(summaries) } : { passed, failed, ok };
  } finally {
    if (controlPlane) {
      const cp = controlPlane;
      await cp.stop();
      controlPlane = undefined;
    }
    if (cluster) {
      const c = cluster;
      await c.stop();
      cluster = undefined;
    }
  }
}

async function main(): Promise<number> {
  const [first, ...rest] = process.argv.slice(2);
  let phases: Phase[];
  let filters = rest;
  if (first === 'static' || first === 'unit' || first === 'integration' || first === 'e2e') phases = [first];
  else if (first === undefined || first === 'all') phases = ['static', 'unit', 'integration', 'e2e'];
  else {
    phases = ['unit', 'integration', 'e2e'];
    filters = [first, ...rest];
  }
  // before anything is built or run: a machine that cannot run the e2e cluster should learn it
  // now, not after the unit and integration phases and the Kubernetes builds
  const planned = new Map(await Promise.all(phases.map(async (p) => [p, await findTests(PHASE_DIRS[p], filters)] as const)));
  const testsOf = (p: Phase): string[] => planned.get(p) ?? [];
  if (testsOf('e2e').length > 0) {
    try {
      ensurePrerequisites((line) => process.stderr.write(`${line}\n`));
    } catch (err) {
      process.stderr.write(`test/run.ts: ${errorMessage(err)}\n`);
      process.stdout.write(`\n${combinedLine(0, 1)}\n`);
      return 1;
    }
  }
  startBuildsEarly({ unit: testsOf('unit'), integration: testsOf('integration'), e2e: testsOf('e2e') });
  let passed = 0;
  let failed = 0;
  let ok = true;
  const summaries: TapSummary[] = [];
  for (const phase of phases) {
    const r = await runPhase(phase, filters);
    passed += r.passed;
    failed += r.failed;
    ok &&= r.ok;
    if (r.summary) summaries.push(r.summary);
  }
  // node's spec reporter lists failing tests after its summary; repeat the (combined) summary so
  // it really is the last thing printed, then the one-line total.
  process.stdout.write(
    `\n── total (${phases.join(' + ')}) ──\n${formatSummary(sumSummaries(summaries))}\n${combinedLine(passed, failed)}\n`,
  );
  return ok && failed === 0 ? 0 : 1;
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`test/run.ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.stdout.write(`\n${combinedLine(0, 1)}\n`);
  return 1;
});
