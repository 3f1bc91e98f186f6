import type { HistoryEntry, ModelSpec } from '../api/types.generated.ts';

type StorageFields = Pick<ModelSpec, 'credentialsSecretRef' | 'plainHTTP'>;

/**
 * How a version's model is reached besides its uri (the credentials Secret's name and plainHTTP),
 * recorded in its status.history entry so a rollback pulls the old version the way it was pulled,
 * not with the credentials of the version that failed. Only the fields that are set: an entry
 * without them is what it was before they existed.
 */
export function storageFields(model: StorageFields): StorageFields {
  return {
    ...(model.credentialsSecretRef ? { credentialsSecretRef: { name: model.credentialsSecretRef.name } } : {}),
    ...(model.plainHTTP !== undefined ? { plainHTTP: model.plainHTTP } : {}),
  };
}

/** `model` with the storage fields of a history entry (none recorded: none). */
export function withStorageOf(model: ModelSpec, entry: Pick<HistoryEntry, 'credentialsSecretRef' | 'plainHTTP'>): ModelSpec {
  const out: ModelSpec = { ...model, ...storageFields(entry) };
  if (!entry.credentialsSecretRef) delete out.credentialsSecretRef;
  if (entry.plainHTTP === undefined) delete out.plainHTTP;
  return out;
}
