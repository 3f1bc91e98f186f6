/** Errors of the canary analysis. */

/** A spec.rollout.canary field that the CRD schema should have refused; the message names the field. */
export class AnalysisSpecError extends Error {
  override name = 'AnalysisSpecError';
}
