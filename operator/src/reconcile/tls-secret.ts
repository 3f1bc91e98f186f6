/**
 * spec.service.tls checked before anything is applied: the Secret must exist, be of type
 * kubernetes.io/tls and hold a key pair that matches and is valid now; the clientCA Secret or
 * ConfigMap must exist and hold a PEM certificate under its key. A problem blocks the reconcile
 * (Degraded, reason TLSSecretInvalid; no pod rolls to a template that could not serve), and is
 * re-checked on the blocking requeue. Messages name the object and what is wrong, never key
 * material. One GET per object per reconcile (the operator keeps no Secret informer, so it never
 * holds every Secret of the cluster in memory and needs only `get` on secrets).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { ModelDeployment } from '../api/types.generated.ts';
import { readIfExists } from '../errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import { DEFAULT_CLIENT_CA_KEY } from '../render/secret-mounts.ts';
import type { BlockingProblem } from '../status/compute.ts';

export const TLS_PROBLEM_REASON = 'TLSSecretInvalid';
const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** A Secret or ConfigMap as far as this check needs it: its type and its data, base64 (Secret) or text (ConfigMap). */
export interface FetchedObject {
  type?: string | undefined;
  data: Record<string, string>;
}

const problem = (message: string): BlockingProblem => ({ reason: TLS_PROBLEM_REASON, message: `spec.service.tls: ${message}` });
const decode = (b64: string | undefined): Buffer | undefined => (b64 === undefined ? undefined : Buffer.from(b64, 'base64'));

/** Pure: the TLS Secret's problem, if any. */
export function checkTlsSecret(name: string, secret: FetchedObject | undefined, now: Date): BlockingProblem | undefined {
  if (!secret) return problem(`Secret "${name}" does not exist`);
  if (secret.type !== TLS_SECRET_TYPE) return problem(`Secret "${name}" is of type "${secret.type ?? 'Opaque'}", not ${TLS_SECRET_TYPE}`);
  const cert = decode(secret.data['tls.crt']);
  const key = decode(secret.data['tls.key']);
  if (!cert?.length || !key?.length) return problem(`Secret "${name}" lacks tls.crt or tls.key`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return problem(`Secret "${name}": tls.crt is not a PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return problem(`Secret "${name}": tls.key is not a PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey)) return problem(`Secret "${name}": tls.key does not match the certificate in tls.crt`);
  if (Date.parse(x509.validTo) <= now.getTime()) return problem(`Secret "${name}": the certificate expired at ${x509.validTo}`);
  if (Date.parse(x509.validFrom) > now.getTime()) return problem(`Secret "${name}": the certificate is not valid before ${x509.validFrom}`);
  return undefined;
}

/** Pure: the client CA's problem, if any. `what` names the object ("Secret \"x\"" / "ConfigMap \"x\""). */
export function checkClientCa(what: string, key: string, obj: FetchedObject | undefined, base64: boolean): BlockingProblem | undefined {
  if (!obj) return problem(`clientCA: ${what} does not exist`);
  const raw = obj.data[key];
  if (raw === undefined) return problem(`clientCA: ${what} has no key "${key}"`);
  try {
    new X509Certificate(base64 ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8'));
  } catch {
    return problem(`clientCA: ${what} key "${key}" is not a PEM certificate`);
  }
  return undefined;
}

/** Reads the objects spec.service.tls names and checks them; undefined without spec.service.tls or when all is well. */
export async function tlsProblem(clients: KubeClients, md: ModelDeployment, now: Date): Promise<BlockingProblem | undefined> {
  const tls = md.spec.service?.tls;
  if (!tls) return undefined;
  const namespace = md.metadata?.namespace as string;
  const secret = await readIfExists(() => clients.core.readNamespacedSecret({ name: tls.secretName, namespace }));
  const found = checkTlsSecret(tls.secretName, secret && { type: secret.type, data: secret.data ?? {} }, now);
  if (found || !tls.clientCA) return found;
  const key = tls.clientCA.key ?? DEFAULT_CLIENT_CA_KEY;
  if (tls.clientCA.secretName !== undefined) {
    const name = tls.clientCA.secretName;
    const s = await readIfExists(() => clients.core.readNamespacedSecret({ name, namespace }));
    return checkClientCa(`Secret "${name}"`, key, s && { type: s.type, data: s.data ?? {} }, true);
  }
  const name = tls.clientCA.configMapName as string;
  const cm = await readIfExists(() => clients.core.readNamespacedConfigMap({ name, namespace }));
  return checkClientCa(`ConfigMap "${name}"`, key, cm && { data: cm.data ?? {} }, false);
}
