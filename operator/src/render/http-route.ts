import type { KubernetesObject, V1PodTemplateSpec, V1Service } from '@kubernetes/client-node';
import type { ModelDeployment, ParentReference } from '../api/types.generated.ts';
import { LABEL_MODEL_VERSION } from '../api/labels.ts';
import { PIN_HEADER } from '../../../contract/runtime-contract.ts';
import { childMetadata } from './children.ts';
import { renderTrackService, servicePort, trackServiceName } from './track-service.ts';

/** The request header that pins a version (also the runtime's pinning header). */
export const TRACK_STABLE = 'stable';
export const TRACK_CANARY_SERVICE = 'canary';

/** What the HTTPRoute renderer needs of the reconcile's decision (a slice of RenderContext). */
export interface RouteContext {
  template: V1PodTemplateSpec;
  canary?:
    | {
        template: V1PodTemplateSpec;
        replicas: number;
        weight?: number | undefined;
        promoting?: boolean | undefined;
        ready?: boolean | undefined;
      }
    | undefined;
}

/** Gateway API HTTPRoute (gateway.networking.k8s.io/v1), the fields the operator writes. */
export interface HTTPRouteManifest extends KubernetesObject {
  spec: {
    parentRefs: ParentReference[];
    hostnames?: string[];
    rules: HTTPRouteRule[];
  };
}

interface HTTPRouteRule {
  matches: Array<{ path: { type: 'PathPrefix'; value: string }; headers?: Array<{ type: 'Exact'; name: string; value: string }> }>;
  backendRefs: Array<{ group: ''; kind: 'Service'; name: string; port: number; weight: number }>;
}

/** The split a running canary asks for: exact weights between the two versions. */
export interface CanarySplit {
  stableVersion: string;
  canaryVersion: string;
  /** Percent to the canary, the current step's weight. */
  weight: number;
}

const versionOf = (t: V1PodTemplateSpec) => t.metadata?.labels?.[LABEL_MODEL_VERSION] as string;

/**
 * The weighted split while a canary runs its steps; undefined when everything should go to the
 * one Service: no canary, canary scaled away, no canary pod ready yet (a weighted backend without
 * a ready endpoint answers 503 to its share), or promoting (the stable Deployment is rolling to
 * the canary's version, so the Service over all pods keeps every ready pod serving).
 */
export function canarySplit(ctx: RouteContext): CanarySplit | undefined {
  const c = ctx.canary;
  if (!c || c.replicas <= 0 || !c.ready || c.promoting || c.weight === undefined) return undefined;
  const stableVersion = versionOf(ctx.template);
  const canaryVersion = versionOf(c.template);
  if (!stableVersion || !canaryVersion || stableVersion === canaryVersion) return undefined;
  return { stableVersion, canaryVersion, weight: c.weight };
}

/** `<name>-canary` while an HTTPRoute is requested and a canary Deployment runs. */
export function renderCanaryTrackService(md: ModelDeployment, ctx: RouteContext): V1Service | undefined {
  if (!md.spec.rollout?.httpRoute || !ctx.canary || ctx.canary.replicas <= 0) return undefined;
  return renderTrackService(md, TRACK_CANARY_SERVICE, versionOf(ctx.canary.template));
}

/**
 * The HTTPRoute `<name>` when spec.rollout.httpRoute is set. While a canary runs: a header rule
 * per version (`modelship-version: <v>` → that version's Service; Gateway API gives header
 * matches precedence over the catch-all) and a catch-all with weights 100-w / w. Otherwise one
 * catch-all to the Service `<name>`.
 */
export function renderHttpRoute(md: ModelDeployment, ctx: RouteContext): HTTPRouteManifest | undefined {
  const spec = md.spec.rollout?.httpRoute;
  if (!spec?.parentRefs?.length) return undefined;
  const name = md.metadata?.name as string;
  const port = servicePort(md);
  const backend = (service: string, weight: number) => ({ group: '' as const, kind: 'Service' as const, name: service, port, weight });
  const all = { type: 'PathPrefix' as const, value: '/' };
  const split = canarySplit(ctx);
  const pin = (version: string, track: string): HTTPRouteRule => ({
    matches: [{ path: all, headers: [{ type: 'Exact', name: PIN_HEADER.version, value: version }] }],
    backendRefs: [backend(trackServiceName(name, track), 1)],
  });
  const rules: HTTPRouteRule[] = split
    ? [
        pin(split.stableVersion, TRACK_STABLE),
        pin(split.canaryVersion, TRACK_CANARY_SERVICE),
        {
          matches: [{ path: all }],
          backendRefs: [
            backend(trackServiceName(name, TRACK_STABLE), 100 - split.weight),
            backend(trackServiceName(name, TRACK_CANARY_SERVICE), split.weight),
          ],
        },
      ]
    : [{ matches: [{ path: all }], backendRefs: [backend(name, 1)] }];
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: childMetadata(md),
    spec: {
      parentRefs: spec.parentRefs,
      ...(spec.hostnames?.length ? { hostnames: spec.hostnames } : {}),
      rules,
    },
  };
}
