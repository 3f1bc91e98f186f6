import type { V1PodTemplateSpec } from '@kubernetes/client-node';
import type { ModelDeployment, ModelSpec } from '../api/types.generated.ts';
import { parseAnalysisConfig } from '../analysis/config.ts';
import type { RuntimeDefaults } from '../config.ts';
import { renderPodTemplate, servedModelName, templateHashOf } from '../render/pod-template.ts';
import type { ExperimentSettings } from '../rollout/experiment.ts';

export interface ParsedExperiment {
  settings: ExperimentSettings;
  /** The experiment's model: spec.model with the experiment's version, uri and sha256 (same name, format). */
  model: ModelSpec;
  /** Its pod template (without the version routes, which decide adds) and that template's hash. */
  template: V1PodTemplateSpec;
  hash: string;
}

/**
 * spec.experiment, parsed once at the edge; undefined when not set. The figures are measured every
 * canary analysis interval (spec.rollout.canary.analysis.interval, default 30s). Throws
 * AnalysisSpecError naming the field when that interval is out of shape.
 */
export function parseExperiment(md: ModelDeployment, defaults: RuntimeDefaults): ParsedExperiment | undefined {
  const e = md.spec.experiment;
  if (!e) return undefined;
  const model: ModelSpec = {
    ...md.spec.model,
    name: servedModelName(md),
    version: e.model.version,
    uri: e.model.uri,
    sha256: e.model.sha256,
    // the experiment's own storage credentials, not the main model's
    credentialsSecretRef: e.model.credentialsSecretRef,
    plainHTTP: e.model.plainHTTP,
    s3: e.model.s3,
  };
  if (model.sha256 === undefined) delete model.sha256;
  if (model.credentialsSecretRef === undefined) delete model.credentialsSecretRef;
  if (model.plainHTTP === undefined) delete model.plainHTTP;
  if (model.s3 === undefined) delete model.s3;
  const template = renderPodTemplate(md, model, defaults);
  return {
    settings: { version: e.model.version, weight: e.weight, intervalMs: parseAnalysisConfig(md.spec.rollout?.canary?.analysis).intervalMs },
    model,
    template,
    hash: templateHashOf(template) as string,
  };
}
