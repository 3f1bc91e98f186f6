import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { DOCKER_CONFIG_KEY, ENV, MODEL_CREDENTIALS_DIR } from '../../../contract/runtime-contract.ts';
import type { ModelSpec } from '../api/types.generated.ts';

export const MODEL_CREDENTIALS_VOLUME = 'model-credentials';

/** What the fetch init container (and only it) gets for spec.model.credentialsSecretRef, plainHTTP and s3. */
export interface ModelCredentials {
  volumes: V1Volume[];
  /** for the fetch init container only: the serving container never sees the Secret */
  fetchMounts: V1VolumeMount[];
  /** for the fetch init container: the file's path, never a credential */
  fetchEnv: V1EnvVar[];
}

/**
 * The credentials Secret is mounted read-only as files (0440, the pod's fsGroup), not as env
 * values, so no credential is in the Deployment, the pod spec or `kubectl describe`. The volume is
 * optional: a missing Secret does not leave the pod waiting in Init (which would only fail at the
 * progress deadline) but makes `fetch` fail at once with the missing file named, so the rollout
 * fails as FetchFailed and is rolled back. Nothing is added when the fields are unset, so a spec
 * without them renders the same pod as before they existed (no rollout). For s3:// the runtime
 * reads the Secret's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY files from the directory; without a
 * Secret it uses the pod's identity (the AWS SDK's default chain).
 */
export function modelCredentials(model: Pick<ModelSpec, 'uri' | 'credentialsSecretRef' | 'plainHTTP' | 's3'>): ModelCredentials {
  const oci = model.uri.startsWith('oci://');
  const s3 = model.uri.startsWith('s3://');
  const out: ModelCredentials = { volumes: [], fetchMounts: [], fetchEnv: [] };
  if (oci && model.plainHTTP === true) out.fetchEnv.push({ name: ENV.ociPlainHttp, value: 'true' });
  if (s3 && model.s3) {
    const { endpoint, region, forcePathStyle } = model.s3;
    if (endpoint !== undefined) out.fetchEnv.push({ name: ENV.s3Endpoint, value: endpoint });
    if (region !== undefined) out.fetchEnv.push({ name: ENV.s3Region, value: region });
    if (forcePathStyle !== undefined) out.fetchEnv.push({ name: ENV.s3ForcePathStyle, value: String(forcePathStyle) });
  }
  const ref = model.credentialsSecretRef;
  if (!ref) return out;
  out.volumes.push({ name: MODEL_CREDENTIALS_VOLUME, secret: { secretName: ref.name, defaultMode: 0o440, optional: true } });
  out.fetchMounts.push({ name: MODEL_CREDENTIALS_VOLUME, mountPath: MODEL_CREDENTIALS_DIR, readOnly: true });
  if (oci) out.fetchEnv.push({ name: ENV.registryAuthFile, value: `${MODEL_CREDENTIALS_DIR}/${DOCKER_CONFIG_KEY}` });
  if (s3) out.fetchEnv.push({ name: ENV.s3CredentialsDir, value: MODEL_CREDENTIALS_DIR });
  return out;
}
