import type { V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_TEMPLATE_HASH, LABEL_TRACK, TRACK_CANARY } from '../api/labels.ts';
import { judgeWindow } from '../analysis/judge.ts';
import type { AnalysisConfig, MetricsScraper, PodRef, TrackSnapshot } from '../analysis/types.ts';
import { windowBetween } from '../analysis/window.ts';
import type { Logger } from '../log.ts';
import type { AnalysisOutcome } from '../rollout/canary.ts';
import type { Facts } from './observe.ts';

/** A window may end this much before the interval is up (requeue and scrape timings jitter). */
const INTERVAL_SLACK_MS = 1_000;

interface Baseline {
  /** The canary template the snapshots belong to. */
  templateHash: string;
  canary: TrackSnapshot;
  stable: TrackSnapshot;
}

export const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
export const ref = (p: V1Pod): PodRef => ({ name: p.metadata?.name as string, uid: p.metadata?.uid as string });

/**
 * The ready pods of each track: canary = labelled track=canary and running the canary's template;
 * stable = the pods on no track (not an A/B experiment's pods either).
 */
export function trackPods(pods: readonly V1Pod[], canaryHash: string): { canary: PodRef[]; stable: PodRef[] } {
  const ready = pods.filter((p) => isReady(p) && !p.metadata?.deletionTimestamp && p.metadata?.uid);
  const isCanary = (p: V1Pod) => p.metadata?.labels?.[LABEL_TRACK] === TRACK_CANARY;
  return {
    canary: ready.filter((p) => isCanary(p) && p.metadata?.annotations?.[ANNOTATION_TEMPLATE_HASH] === canaryHash).map(ref),
    stable: ready.filter((p) => !p.metadata?.labels?.[LABEL_TRACK]).map(ref),
  };
}

/**
 * The analysis of a running canary, every interval: scrapes both tracks' ready pods (through the
 * scraper), and from the second scrape on judges the window between the last two. The snapshots
 * live in memory only: after an operator restart the first scrape is a new baseline, and the step
 * and its start come from status.canary.
 */
export class CanaryAnalyzer {
  private readonly scraper: MetricsScraper;
  private readonly log: Logger;
  private readonly baselines = new Map<string, Baseline>();

  constructor(scraper: MetricsScraper, log: Logger) {
    this.scraper = scraper;
    this.log = log;
  }

  /** Forgets a ModelDeployment's snapshots (no canary running). */
  forget(key: string): void {
    this.baselines.delete(key);
  }

  /** Undefined when no window is due yet, or this was the baseline scrape. */
  async analyze(key: string, f: Facts, cfg: AnalysisConfig): Promise<AnalysisOutcome | undefined> {
    const last = this.baselines.get(key);
    const nowMs = f.now.getTime();
    if (last && last.templateHash === f.desiredHash && nowMs - last.canary.takenAtMs < cfg.intervalMs - INTERVAL_SLACK_MS) return undefined;
    const pods = trackPods(f.pods, f.desiredHash);
    const [canary, stable] = await Promise.all([
      this.scraper.scrape(f.namespace, pods.canary),
      this.scraper.scrape(f.namespace, pods.stable),
    ]);
    const failures = [...canary.failures, ...stable.failures];
    if (failures.length > 0)
      this.log.warn('cannot read the metrics of some pods', { modelDeployment: key, failures: failures.slice(0, 5) });
    const cur: Baseline = {
      templateHash: f.desiredHash,
      canary: { ...canary.snapshot, takenAtMs: nowMs },
      stable: { ...stable.snapshot, takenAtMs: nowMs },
    };
    this.baselines.set(key, cur);
    if (!last || last.templateHash !== f.desiredHash) return undefined;
    const canaryWindow = windowBetween(last.canary, cur.canary);
    const stableWindow = windowBetween(last.stable, cur.stable);
    const judgement = judgeWindow(cfg, canaryWindow, stableWindow);
    this.log.info('canary analysis', {
      modelDeployment: key,
      verdict: judgement.verdict,
      message: judgement.message,
      canaryPods: pods.canary.length,
      stablePods: pods.stable.length,
    });
    // Unread pods are left out of the window; say so, since a NetworkPolicy whose metricsFrom does
    // not admit the API server (the pod proxy) makes every read fail and every window inconclusive.
    const unread = failures.length ? `; could not read the metrics of ${failures.length} pod(s): ${failures[0]}` : '';
    return { ...judgement, message: `${judgement.message}${unread}`, at: f.now, canary: canaryWindow, stable: stableWindow };
  }
}
