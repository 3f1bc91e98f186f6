import { Gauge, type Registry } from 'prom-client';
import type { ModelDeployment } from './api/types.generated.ts';

/** Rollout phase of a ModelDeployment with no rollout recorded yet. */
export const PHASE_NONE = 'None';

export interface ModelDeploymentSample {
  labels: Record<string, string>;
  value: number;
}

export interface ModelDeploymentSamples {
  ready: ModelDeploymentSample[];
  info: ModelDeploymentSample[];
}

/**
 * One `ready` and one `info` sample per ModelDeployment, from the objects alone (label values are
 * names, versions and the phase: nothing from the spec that could hold a secret). Phase is the
 * newest status.history entry's outcome, or None before the first rollout.
 */
export function modelDeploymentSamples(mds: readonly ModelDeployment[]): ModelDeploymentSamples {
  const ready: ModelDeploymentSample[] = [];
  const info: ModelDeploymentSample[] = [];
  for (const md of mds) {
    const id = { namespace: md.metadata?.namespace ?? '', name: md.metadata?.name ?? '' };
    const status = md.status;
    const readyCond = status?.conditions?.find((c) => c.type === 'Ready');
    ready.push({ labels: id, value: readyCond?.status === 'True' ? 1 : 0 });
    info.push({
      labels: {
        ...id,
        version: md.spec?.model?.version ?? '',
        current_version: status?.currentVersion ?? '',
        updating_version: status?.updatingVersion ?? '',
        phase: status?.history?.[0]?.outcome ?? PHASE_NONE,
      },
      value: 1,
    });
  }
  return { ready, info };
}

/**
 * Registers the per-ModelDeployment gauges, computed from `list` (the informer cache) at scrape
 * time: a deleted ModelDeployment's series, or an old version's info series, simply stop being
 * reported, and nothing is kept between scrapes.
 */
export function registerModelDeploymentGauges(registry: Registry, list: () => readonly ModelDeployment[]): void {
  const samples = (which: keyof ModelDeploymentSamples) => modelDeploymentSamples(list())[which];
  const fill = (gauge: Gauge<string>, rows: ModelDeploymentSample[]) => {
    gauge.reset();
    for (const r of rows) gauge.set(r.labels, r.value);
  };
  new Gauge({
    name: 'modelship_modeldeployment_ready',
    help: "1 when the ModelDeployment's Ready condition is True (the desired version is fully rolled out and available), else 0.",
    labelNames: ['namespace', 'name'],
    registers: [registry],
    collect() {
      fill(this, samples('ready'));
    },
  });
  new Gauge({
    name: 'modelship_modeldeployment_info',
    help: "Always 1, one series per ModelDeployment: the desired version (spec.model.version), the version serving (status.currentVersion), the one rolling out (status.updatingVersion) and the newest rollout's phase (status.history[0].outcome, None before the first).",
    labelNames: ['namespace', 'name', 'version', 'current_version', 'updating_version', 'phase'],
    registers: [registry],
    collect() {
      fill(this, samples('info'));
    },
  });
}
