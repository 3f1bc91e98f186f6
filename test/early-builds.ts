/**
 * The one-time builds the planned tests need (Go servers, the Kubernetes binaries, Python venvs),
 * started in the background when `npm test` starts, so they overlap the tests before the one that
 * needs them instead of adding to the run; each test then finds its server built, or waits for
 * the rest of the build (every build script takes a flock, and skips what is already built).
 * Three waves, in the order the phases need them: what the unit and integration phases use first,
 * then what the e2e cluster needs to start, then Traefik, which only the last e2e file uses.
 * Starting everything at once on a 2-core machine made the unit phase wait ~20 minutes for
 * SeaweedFS while Traefik and Prometheus took half the CPU, and the Kubernetes binaries were built
 * only when the integration phase began.
 * The test files that wait for a build run after the rest of their phase (`inBatches`), so a cold
 * machine runs its other tests while the builds go on.
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
  /** The test files that wait for it, when only some do (they run last in their phase). */
  waiters?: RegExp;
  /** Whether a planned test needs it (by default: a planned file matches `waiters`). */
  wanted?(planned: PlannedTests): boolean;
  start(log: (line: string) => void): Promise<unknown>;
}

const all = (p: PlannedTests) => [...p.unit, ...p.integration, ...p.e2e];
const OCI_TESTS = /(^|\/)(fetch-oci|oci)\.test\.ts$/;

/** Used by the unit and integration phases (and later ones). */
const FIRST_WAVE: readonly Build[] = [
  { name: 'registry', waiters: OCI_TESTS, start: resolveRegistry },
  { name: 'oras', waiters: OCI_TESTS, start: resolveOras },
  { name: 'seaweedfs', waiters: /(^|\/)(fetch-s3|s3)\.test\.ts$/, start: resolveSeaweedfs },
  // 1.7 GB of downloads: network, not CPU
  { name: 'torch venv', waiters: /(^|\/)runtime\/conversion-guide\.test\.ts$/, start: resolveTorchPython },
  { name: 'helm', wanted: (p) => all(p).length > 0, start: () => resolveHelm() },
  { name: 'kubernetes', wanted: (p) => p.integration.length + p.e2e.length > 0, start: () => resolveBinaries(COMPONENTS) },
  {
    name: 'prometheus',
    waiters: /(^|\/)(integration\/prometheus-rules|e2e\/observability)\.test\.ts$/,
    start: resolvePrometheus,
  },
];

/** What the e2e cluster needs to start: built once the first wave is done. */
const SECOND_WAVE: readonly Build[] = [
  { name: 'kubernetes node', wanted: (p) => p.e2e.length > 0, start: () => resolveBinaries(['kube-scheduler', 'kubelet', 'kube-proxy']) },
  { name: 'coredns', wanted: (p) => p.e2e.length > 0, start: resolveCoreDns },
  { name: 'metrics-server', wanted: (p) => p.e2e.length > 0, start: resolveMetricsServer },
];

/** Used by one e2e file, which runs last: built while the e2e phase runs the others. */
const THIRD_WAVE: readonly Build[] = [{ name: 'traefik', waiters: /(^|\/)e2e\/canary-gateway\.test\.ts$/, start: resolveTraefik }];

const WAVES = [FIRST_WAVE, SECOND_WAVE, THIRD_WAVE] as const;

const isWanted = (b: Build, p: PlannedTests): boolean => (b.wanted ? b.wanted(p) : all(p).some((f) => b.waiters?.test(f) ?? false));

/** The builds the planned tests need, by wave (names as logged). */
export function buildsFor(planned: PlannedTests): { first: string[]; second: string[]; third: string[] } {
  const [first, second, third] = WAVES.map((wave) => wave.filter((b) => isWanted(b, planned)).map((b) => b.name));
  return { first: first!, second: second!, third: third! };
}

/**
 * One phase's test files as batches to run one after another: first the files that wait for no
 * build, then those that wait for a build of the first wave, then the second, then the third.
 * node --test sorts the files it is given, so each batch is its own node --test. Before, the unit
 * phase sat at test/runtime/conversion-guide.test.ts (sorted early; it waits for the PyTorch
 * venv), then at fetch-oci and fetch-s3, while its ~900 other tests waited behind them.
 */
export function inBatches(files: readonly string[]): string[][] {
  const waveOf = (file: string): number => WAVES.findIndex((wave) => wave.some((b) => b.waiters?.test(file) ?? false));
  const batches: string[][] = [[], [], [], []];
  for (const file of files) batches[waveOf(file) + 1]!.push(file);
  return batches.filter((b) => b.length > 0);
}

function startWave(builds: readonly Build[], planned: PlannedTests): Promise<unknown> {
  return Promise.allSettled(
    builds
      .filter((b) => isWanted(b, planned))
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
  void startWave(FIRST_WAVE, planned)
    .then(() => startWave(SECOND_WAVE, planned))
    .then(() => startWave(THIRD_WAVE, planned));
}
