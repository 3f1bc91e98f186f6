/**
 * The Secrets the serve container reads as files, so the runtime can re-read them when they change
 * (a Secret volume is updated in place by the kubelet; an env var only on a restart):
 * spec.service.tls (the key pair, mounted whole so cert-manager's ca.crt comes along for
 * forwarding between versions), spec.service.tls.clientCA (one key, as CLIENT_CA_FILE) and
 * spec.runtime.apiKeySecretRef (one key, as API_KEY_FILE, one API key per line).
 */
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { ModelDeployment } from '../api/types.generated.ts';
import {
  API_KEY_DIR,
  API_KEY_FILE,
  CLIENT_CA_DIR,
  CLIENT_CA_FILE,
  ENV,
  TLS_CERT_KEY,
  TLS_DIR,
  TLS_KEY_KEY,
} from '../../../contract/runtime-contract.ts';

/** Owner and group read only; the pod's fsGroup makes the runtime's group the files' group. */
const SECRET_FILE_MODE = 0o440;
/** The clientCA key when the spec names none (the CRD default). */
export const DEFAULT_CLIENT_CA_KEY = 'ca.crt';

export interface SecretMounts {
  env: V1EnvVar[];
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
}

/** True when the ModelDeployment serves HTTPS (spec.service.tls). */
export const servesHttps = (md: ModelDeployment): boolean => md.spec.service?.tls !== undefined;
export const urlScheme = (md: ModelDeployment): 'http' | 'https' => (servesHttps(md) ? 'https' : 'http');

export function secretMounts(md: ModelDeployment): SecretMounts {
  const out: SecretMounts = { env: [], volumes: [], mounts: [] };
  const keyRef = md.spec.runtime?.apiKeySecretRef;
  if (keyRef) {
    out.volumes.push({
      name: 'api-key',
      secret: { secretName: keyRef.name, items: [{ key: keyRef.key, path: API_KEY_FILE }], defaultMode: SECRET_FILE_MODE },
    });
    out.mounts.push({ name: 'api-key', mountPath: API_KEY_DIR, readOnly: true });
    out.env.push({ name: ENV.apiKeyFile, value: `${API_KEY_DIR}/${API_KEY_FILE}` });
  }
  const tls = md.spec.service?.tls;
  if (tls) {
    out.volumes.push({ name: 'tls', secret: { secretName: tls.secretName, defaultMode: SECRET_FILE_MODE } });
    out.mounts.push({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
    out.env.push(
      { name: ENV.tlsCertFile, value: `${TLS_DIR}/${TLS_CERT_KEY}` },
      { name: ENV.tlsKeyFile, value: `${TLS_DIR}/${TLS_KEY_KEY}` },
    );
    const ca = tls.clientCA;
    if (ca) {
      const items = [{ key: ca.key ?? DEFAULT_CLIENT_CA_KEY, path: CLIENT_CA_FILE }];
      out.volumes.push(
        ca.secretName !== undefined
          ? { name: 'client-ca', secret: { secretName: ca.secretName, items, defaultMode: SECRET_FILE_MODE } }
          : { name: 'client-ca', configMap: { name: ca.configMapName as string, items } },
      );
      out.mounts.push({ name: 'client-ca', mountPath: CLIENT_CA_DIR, readOnly: true });
      out.env.push({ name: ENV.tlsClientCaFile, value: `${CLIENT_CA_DIR}/${CLIENT_CA_FILE}` });
    }
  }
  return out;
}
