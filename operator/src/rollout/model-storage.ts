import type { HistoryEntry, ModelSpec } from '../api/types.generated.ts';

type StorageFields = Pick<ModelSpec, 'credentialsSecretRef' | 'plainHTTP' | 's3'>;

/**
 * How a version's model is reached besides its uri (the credentials Secret's name, plainHTTP, s3),
 * recorded in its status.history entry so a rollback pulls the old version the way it was pulled,
 * not with the credentials of the version that failed. Only the fields that are set: an entry
 * without them is what it was before they existed.
 */
export function storageFields(model: StorageFields): StorageFields {
  return {
    ...(model.credentialsSecretRef ? { credentialsSecretRef: { name: model.credentialsSecretRef.name } } : {}),
    ...(model.plainHTTP !== undefined ? { plainHTTP: model.plainHTTP } : {}),
    ...(model.s3 !== undefined ? { s3: { ...model.s3 } } : {}),
  };
}

/** `model` with the storage fields of a history entry (none recorded: none). */
export function withStorageOf(model: ModelSpec, entry: Pick<HistoryEntry, 'credentialsSecretRef' | 'plainHTTP' | 's3'>): ModelSpec {
  const out: ModelSpec = { ...model, ...storageFields(entry) };
  if (!entry.credentialsSecretRef) delete out.credentialsSecretRef;
  if (entry.plainHTTP === undefined) delete out.plainHTTP;
  if (entry.s3 === undefined) delete out.s3;
  return out;
}
