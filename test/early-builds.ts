/**
 * The one-time builds the planned tests need (Go servers, the Kubernetes binaries, Python venvs),
 * started in the background when `npm test` starts, so they overlap the tests before the one that
 * needs them instead of adding to the run; each test then finds its server built, or waits for
 * the rest of the build (every build script takes a flock, and skips what is already built).
 * Two waves, in the order the phases need them: what the unit and integration phases use first,
 * then what only the e2e phase uses. Starting everything at once on a 2-core machine made the
 * unit phase wait ~20 minutes for SeaweedFS while Traefik and Prometheus took half the CPU, and
 * the Kubernetes binaries were built only when the integration phase began.
 * A failed build is reported here and again by the test that needs it.
 */
import { resolveBinaries } from '@modelship/devcluster/binaries';
import { COMPONENTS } from '@modelship/devcluster/controlplane';
import { resolveCoreDns } from '@modelship/devcluster/coredns';
import { resolveTraefik } from '@modelship/devcluster/gateway';
import { resolveHelm } from '@modelship/devcluster/helm';
import { resolveMetricsServer } from '@modelship/devcluster/metrics-server';
import { resolveOras, resolveRegistry } from '@modelship/devcluster/oci-registry';
import { resolvePrometheus } from '@modelship/devcluster/prometheus';
import { resolveSeaweedfs } from '@modelship/devcluster/s3-server';
import { errorMessage } from '@modelship/devcluster/wait';
import { resolveTorchPython } from './runtime/torch-venv.ts';

export interface PlannedTests {
  unit: readonly string[];
  integration: readonly string[];
  e2e: readonly string[];
}

interface Build {
  name: string;
  /** Whether a planned test needs it. */
  wanted(planned: PlannedTests): boolean;
  start(log: (line: string) => void): Promise<unknown>;
}

const named = (files: readonly string[], pattern: RegExp) => files.some((f) => pattern.test(f));
const all = (p: PlannedTests) => [...p.unit, ...p.integration, ...p.e2e];
const OCI_TESTS = /(^|\/)(fetch-oci|oci)\.test\.ts$/;

/** Used by the unit and integration phases (and later ones). */
const FIRST_WAVE: readonly Build[] = [
  { name: 'registry', wanted: (p) => named(all(p), OCI_TESTS), start: resolveRegistry },
  { name: 'oras', wanted: (p) => named(all(p), OCI_TESTS), start: resolveOras },
  { name: 'seaweedfs', wanted: (p) => named(all(p), /(^|\/)(fetch-s3|s3)\.test\.ts$/), start: resolveSeaweedfs },
  // 1.7 GB of downloads: network, not CPU
  { name: 'torch venv', wanted: (p) => named(p.unit, /conversion-guide\.test\.ts$/), start: resolveTorchPython },
  { name: 'helm', wanted: (p) => all(p).length > 0, start: () => resolveHelm() },
  { name: 'kubernetes', wanted: (p) => p.integration.length + p.e2e.length > 0, start: () => resolveBinaries(COMPONENTS) },
  {
    name: 'prometheus',
    wanted: (p) => named(all(p), /(prometheus-rules|observability)\.test\.ts$/),
    start: resolvePrometheus,
  },
];

/** Used only by the e2e phase: built once the first wave is done. */
const SECOND_WAVE: readonly Build[] = [
  { name: 'kubernetes node', wanted: (p) => p.e2e.length > 0, start: () => resolveBinaries(['kube-scheduler', 'kubelet', 'kube-proxy']) },
  { name: 'coredns', wanted: (p) => p.e2e.length > 0, start: resolveCoreDns },
  { name: 'metrics-server', wanted: (p) => p.e2e.length > 0, start: resolveMetricsServer },
  { name: 'traefik', wanted: (p) => named(p.e2e, /canary-gateway\.test\.ts$/), start: resolveTraefik },
];

/** The builds the planned tests need, by wave (names as logged). */
export function buildsFor(planned: PlannedTests): { first: string[]; second: string[] } {
  const names = (wave: readonly Build[]) => wave.filter((b) => b.wanted(planned)).map((b) => b.name);
  return { first: names(FIRST_WAVE), second: names(SECOND_WAVE) };
}

function startWave(builds: readonly Build[], planned: PlannedTests): Promise<unknown> {
  return Promise.allSettled(
    builds
      .filter((b) => b.wanted(planned))
      .map((b) => {
        const log = (line: string) => process.stderr.write(`${b.name}: ${line}\n`);
        return b
          .start(log)
          .catch((err: unknown) => log(`background build failed (the tests that need it will say why): ${errorMessage(err)}`));
      }),
  );
}

/** Starts the builds in the background and returns at once. */
export function startBuildsEarly(planned: PlannedTests): void {
  void startWave(FIRST_WAVE, planned).then(() => startWave(SECOND_WAVE, planned));
}
