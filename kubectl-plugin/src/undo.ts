// `undo`: which history entry to restore, the merge patch that writes it back into spec.model, and
// the diff shown before asking. Pure.
import { CliError, NothingToDoError } from './errors.ts';
import type { HistoryEntry, ModelDeployment } from './types.ts';

export interface ModelRef {
  version: string;
  uri: string;
  sha256?: string;
}

export interface UndoPlan {
  from: ModelRef;
  to: ModelRef;
  entry: HistoryEntry;
  /** JSON merge patch; carries metadata.resourceVersion so a concurrent change makes it fail (409). */
  patch: Record<string, unknown>;
  diff: string[];
}

const sameModel = (a: ModelRef, b: ModelRef) => a.version === b.version && a.uri === b.uri && (a.sha256 ?? '') === (b.sha256 ?? '');

function refOf(m: { version: string; uri: string; sha256?: string | undefined }): ModelRef {
  return { version: m.version, uri: m.uri, ...(m.sha256 ? { sha256: m.sha256 } : {}) };
}

/**
 * The entry to restore. With a version: the newest Succeeded entry of that version (a version
 * that never rolled out successfully is refused: restoring it would fail again). Without: the
 * newest Succeeded entry whose model differs from the desired one, i.e. the version before.
 */
export function chooseUndoEntry(md: ModelDeployment, toVersion: string | undefined): HistoryEntry {
  const name = md.metadata?.name ?? '';
  const history = md.status?.history ?? [];
  const desired = refOf(md.spec.model);
  if (toVersion !== undefined) {
    const ofVersion = history.filter((h) => h.version === toVersion);
    if (ofVersion.length === 0) {
      const known = [...new Set(history.map((h) => h.version))];
      throw new CliError(
        `version ${JSON.stringify(toVersion)} is not in the history of ${name}` +
          (known.length > 0 ? `; versions there: ${known.join(', ')}` : ' (status.history is empty)'),
      );
    }
    const ok = ofVersion.find((h) => h.outcome === 'Succeeded');
    if (!ok)
      throw new CliError(
        `version ${toVersion} of ${name} never rolled out successfully (outcomes: ${ofVersion.map((h) => h.outcome).join(', ')}); undo restores Succeeded versions only`,
      );
    return ok;
  }
  const previous = history.find((h) => h.outcome === 'Succeeded' && !sameModel(refOf(h), desired));
  if (!previous)
    throw new NothingToDoError(`${name} has no earlier successful version to go back to (see kubectl modelship history ${name})`);
  return previous;
}

function line(field: string, from: string | undefined, to: string | undefined): string[] {
  if (from === to) return [];
  return [...(from === undefined ? [] : [`-   ${field}: ${from}`]), ...(to === undefined ? [] : [`+   ${field}: ${to}`])];
}

export function modelDiff(from: ModelRef, to: ModelRef): string[] {
  return [
    '  spec.model:',
    ...line('version', JSON.stringify(from.version), JSON.stringify(to.version)),
    ...line('uri', from.uri, to.uri),
    ...line('sha256', from.sha256, to.sha256),
  ];
}

/** The merge patch setting spec.model's version, uri and sha256 (null removes a sha256 the entry had not). */
export function modelPatch(to: ModelRef, resourceVersion: string | undefined): Record<string, unknown> {
  return {
    ...(resourceVersion ? { metadata: { resourceVersion } } : {}),
    spec: { model: { version: to.version, uri: to.uri, sha256: to.sha256 ?? null } },
  };
}

/** Throws NothingToDoError when spec.model already is the chosen entry's model. */
export function planUndo(md: ModelDeployment, toVersion: string | undefined): UndoPlan {
  const entry = chooseUndoEntry(md, toVersion);
  const from = refOf(md.spec.model);
  const to = refOf(entry);
  if (sameModel(from, to))
    throw new NothingToDoError(`spec.model of ${md.metadata?.name ?? ''} already is version ${to.version} (${to.uri}): nothing to undo`);
  return { from, to, entry, patch: modelPatch(to, md.metadata?.resourceVersion), diff: modelDiff(from, to) };
}
