import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';

/** Where the fetch init container reads the model from, and any volume that needs. */
export interface ModelSource {
  /** URI handed to the runtime's `fetch` command. */
  fetchUri: string;
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
}

const PVC_MOUNT_ROOT = '/mnt/model-pvc';

/** `pvc://claim/path` mounts the claim read-only and fetches from the file; other schemes pass through. */
export function modelSource(uri: string): ModelSource {
  const pvc = /^pvc:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!pvc) return { fetchUri: uri, volumes: [], mounts: [] };
  const claim = pvc[1] as string;
  const path = pvc[2] as string;
  return {
    fetchUri: `file://${PVC_MOUNT_ROOT}/${path}`,
    volumes: [{ name: 'model-pvc', persistentVolumeClaim: { claimName: claim, readOnly: true } }],
    mounts: [{ name: 'model-pvc', mountPath: PVC_MOUNT_ROOT, readOnly: true }],
  };
}
