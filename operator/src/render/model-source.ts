import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ENV, PVC_ROOT } from '../../../contract/runtime-contract.ts';

/** Where the fetch init container reads the model from, and any volume and env that needs. */
export interface ModelSource {
  /** URI handed to the runtime's `fetch` command. */
  fetchUri: string;
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
  /** Extra environment for `fetch` (MODELSHIP_PVC_ROOT for pvc://). */
  env: { name: string; value: string }[];
}

/**
 * `pvc://claim/path` mounts the claim read-only at <PVC_ROOT>/<claim> and hands the pvc:// URI to
 * `fetch` unchanged, so the runtime's own checks (no `..`, no encoded `/`, no symlink out of the
 * claim) apply; rewriting it to file:// here would let `..` walk out of the mount.
 */
export function modelSource(uri: string): ModelSource {
  const pvc = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!pvc) return { fetchUri: uri, volumes: [], mounts: [], env: [] };
  const claim = pvc[1] as string;
  return {
    fetchUri: uri,
    volumes: [{ name: 'model-pvc', persistentVolumeClaim: { claimName: claim, readOnly: true } }],
    mounts: [{ name: 'model-pvc', mountPath: `${PVC_ROOT}/${claim}`, readOnly: true }],
    env: [{ name: ENV.pvcRoot, value: PVC_ROOT }],
  };
}
