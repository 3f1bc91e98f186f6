/**
 * A/B version pinning, decided before anything is read or allocated: which version an inference
 * request asks for (the modelship-version header or the versioned path), and so whether this pod
 * answers it, forwards it once to the configured route of that version (forward.ts), or refuses it.
 * Pure: the decision depends only on the route, the headers and the configuration.
 *
 * A client cannot make the pod connect anywhere but a configured route: the only thing taken from
 * the request is a version, validated (length, charset) and looked up in the routes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isModelVersion, PIN_HEADER, VERSION_MAX_LENGTH } from '../../../contract/runtime-contract.ts';
import { badRequest, HttpError, notFound } from '../errors.ts';
import type { InferenceRoute } from './routes.ts';

export interface PinConfig {
  modelName: string;
  /** this pod's version */
  modelVersion: string;
  /** version -> base URL (http://host:port), from the configuration */
  routes: ReadonlyMap<string, string>;
}

export type PinDecision = { kind: 'local' } | { kind: 'forward'; version: string; baseUrl: string } | { kind: 'refuse'; error: HttpError };

/** 421: the request was forwarded here already and still does not match this pod's version. */
export const misdirected = (message: string): HttpError => new HttpError(421, message);

/** The versions this pod can answer for, its own first. */
export function servedVersions(config: PinConfig): string[] {
  return [config.modelVersion, ...[...config.routes.keys()].filter((v) => v !== config.modelVersion)];
}

/** The header's version: undefined when absent; a 400 when it is not one value of the version charset. */
function headerVersion(headers: IncomingHttpHeaders): string | undefined | HttpError {
  const raw = headers[PIN_HEADER.version];
  if (raw === undefined) return undefined;
  // Node joins a repeated header with ", ", which the charset check below refuses
  const value = (Array.isArray(raw) ? raw.join(', ') : raw).trim();
  if (!isModelVersion(value)) {
    const shown = value.length > VERSION_MAX_LENGTH ? `${value.slice(0, VERSION_MAX_LENGTH)}...` : value;
    return badRequest(
      `the ${PIN_HEADER.version} header must be one model version (1-${VERSION_MAX_LENGTH} letters, digits, '.', '_', '-', starting and ending with a letter or digit), got "${shown}"`,
    );
  }
  return value;
}

export function decidePin(route: InferenceRoute, headers: IncomingHttpHeaders, config: PinConfig): PinDecision {
  const fromHeader = headerVersion(headers);
  if (fromHeader instanceof HttpError) return { kind: 'refuse', error: fromHeader };
  // another model name is answered 404 by the local handler, never forwarded
  if (route.model !== config.modelName) return { kind: 'local' };
  if (route.version !== undefined && fromHeader !== undefined && route.version !== fromHeader) {
    return {
      kind: 'refuse',
      error: badRequest(`the path asks for version "${route.version}" and the ${PIN_HEADER.version} header for "${fromHeader}": give one`),
    };
  }
  const pinned = route.version ?? fromHeader;
  if (pinned === undefined || pinned === config.modelVersion) return { kind: 'local' };
  const baseUrl = isModelVersion(pinned) ? config.routes.get(pinned) : undefined;
  if (headers[PIN_HEADER.forwarded] !== undefined) {
    return {
      kind: 'refuse',
      error: misdirected(
        `model ${config.modelName} version "${pinned}" was asked of this pod, which serves version "${config.modelVersion}", by a request already forwarded once (${PIN_HEADER.forwarded}); it is not forwarded again`,
      ),
    };
  }
  if (baseUrl === undefined) {
    const shown = pinned.length > VERSION_MAX_LENGTH ? `${pinned.slice(0, VERSION_MAX_LENGTH)}...` : pinned;
    return {
      kind: 'refuse',
      error: notFound(`model ${config.modelName} has no version "${shown}" here; served: ${servedVersions(config).join(', ')}`),
    };
  }
  return { kind: 'forward', version: pinned, baseUrl };
}
