import type { V1Pod } from '@kubernetes/client-node';
import { LABEL_MODEL_VERSION, LABEL_TRACK } from '../api/labels.ts';
import type { MetricsScraper, PodRef, TrackSnapshot } from '../analysis/types.ts';
import { windowBetween } from '../analysis/window.ts';
import type { Logger } from '../log.ts';
import { versionOf } from '../render/experiment.ts';
import type { ExperimentWindow } from '../rollout/experiment.ts';
import { isReady, ref } from './analyze.ts';
import { experimentPods } from './decide-experiment.ts';
import type { Facts } from './observe.ts';

/** A window may end this much before the interval is up (requeue and scrape timings jitter). */
const INTERVAL_SLACK_MS = 1_000;

interface Baseline {
  /** The variants the snapshots belong to: a new version on either side starts a new baseline. */
  versions: string;
  stable: TrackSnapshot;
  experiment: TrackSnapshot;
}

/** The ready pods of each variant: stable = on no track and of the stable version; experiment = the experiment track's template. */
export function variantPods(
  pods: readonly V1Pod[],
  stableVersion: string,
  experimentHash: string,
): { stable: PodRef[]; experiment: PodRef[] } {
  const ready = (p: V1Pod) => isReady(p) && !p.metadata?.deletionTimestamp && p.metadata?.uid;
  return {
    stable: pods
      .filter((p) => ready(p) && !p.metadata?.labels?.[LABEL_TRACK] && p.metadata?.labels?.[LABEL_MODEL_VERSION] === stableVersion)
      .map(ref),
    experiment: experimentPods(pods, experimentHash).filter(ready).map(ref),
  };
}

/**
 * The per-variant figures of an A/B experiment: every analysis interval it scrapes both variants'
 * ready pods through the same scraper as the canary analysis (the API server's pod proxy), and from
 * the second scrape on returns the window between the last two. Snapshots live in memory only: after
 * an operator restart the first scrape is a new baseline.
 */
export class ExperimentAnalyzer {
  private readonly scraper: MetricsScraper;
  private readonly log: Logger;
  private readonly baselines = new Map<string, Baseline>();

  constructor(scraper: MetricsScraper, log: Logger) {
    this.scraper = scraper;
    this.log = log;
  }

  forget(key: string): void {
    this.baselines.delete(key);
  }

  /** Undefined when no experiment runs, no window is due yet, or this was the baseline scrape. */
  async measure(key: string, f: Facts): Promise<ExperimentWindow | undefined> {
    const e = f.experiment;
    if (!e) {
      this.forget(key);
      return undefined;
    }
    const stableVersion = (f.deployment?.spec?.template && versionOf(f.deployment.spec.template)) ?? f.desiredModel.version;
    const versions = `${stableVersion} ${e.hash}`;
    const last = this.baselines.get(key);
    const nowMs = f.now.getTime();
    if (last && last.versions === versions && nowMs - last.stable.takenAtMs < e.settings.intervalMs - INTERVAL_SLACK_MS) return undefined;
    const pods = variantPods(f.pods, stableVersion, e.hash);
    const [stable, experiment] = await Promise.all([
      this.scraper.scrape(f.namespace, pods.stable),
      this.scraper.scrape(f.namespace, pods.experiment),
    ]);
    const failures = [...stable.failures, ...experiment.failures];
    if (failures.length > 0)
      this.log.warn('cannot read the metrics of some pods', { modelDeployment: key, failures: failures.slice(0, 5) });
    const cur: Baseline = {
      versions,
      stable: { ...stable.snapshot, takenAtMs: nowMs },
      experiment: { ...experiment.snapshot, takenAtMs: nowMs },
    };
    this.baselines.set(key, cur);
    if (!last || last.versions !== versions) return undefined;
    const w = { at: f.now, stable: windowBetween(last.stable, cur.stable), experiment: windowBetween(last.experiment, cur.experiment) };
    this.log.info('experiment figures', {
      modelDeployment: key,
      stableRequests: w.stable.requests,
      experimentRequests: w.experiment.requests,
      stablePods: pods.stable.length,
      experimentPods: pods.experiment.length,
    });
    return w;
  }
}
