/**
 * oci://<registry>[:port]/<repository>(:<tag>|@sha256:<digest>) model URIs, parsed by one set of
 * rules the runtime (fetch) and the CRD's CEL rule (OCI_REFERENCE_PATTERN) share. The grammar is
 * the distribution reference grammar (github.com/distribution/reference) restricted to what a model
 * pull needs: the registry host is required (no Docker Hub default) and so is a tag or a digest
 * (no implicit "latest"); a reference with both tag and digest is pulled by its digest.
 */

/** A registry host: DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port. */
const HOST = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?`;
/** Path components: lowercase alphanumerics separated by ".", "_", "__" or runs of "-". */
const COMPONENT = String.raw`[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`;
const REPOSITORY = `${COMPONENT}(?:/${COMPONENT})*`;
const TAG = String.raw`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;
const DIGEST = String.raw`sha256:[a-f0-9]{64}`;

/** The whole oci:// URI (anchored); the same text is the CRD's CEL `matches()` pattern. */
export const OCI_REFERENCE_PATTERN = `^oci://${HOST}/${REPOSITORY}(?::${TAG})?(?:@${DIGEST})?$`;
const WHOLE = new RegExp(`^oci://(${HOST})/(${REPOSITORY})(?::(${TAG}))?(?:@(${DIGEST}))?$`);

export const MAX_REPOSITORY_LENGTH = 255;

export interface OciReference {
  /** host[:port] as written (the key looked up in a docker config's "auths") */
  registry: string;
  repository: string;
  tag: string | undefined;
  /** "sha256:<64 hex>" when pinned */
  digest: string | undefined;
}

/** The parsed reference, or a one-line reason it is not one. */
export function parseOciReference(uri: string): OciReference | { error: string } {
  if (!uri.startsWith('oci://')) return { error: `an OCI model URI starts with oci://, got "${uri}"` };
  const m = WHOLE.exec(uri);
  if (!m) {
    return {
      error:
        `"${uri}" is not an OCI reference: expected oci://<registry>[:port]/<repository>:<tag> or ` +
        `oci://<registry>[:port]/<repository>@sha256:<64 hex> (repository in lowercase letters, digits, ".", "_", "-" and "/")`,
    };
  }
  const [, registry = '', repository = '', tag, digest] = m;
  if (repository.length > MAX_REPOSITORY_LENGTH)
    return { error: `"${uri}": the repository name is longer than ${MAX_REPOSITORY_LENGTH} characters` };
  const port = /:([0-9]+)$/.exec(registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return { error: `"${uri}": port ${port} is out of range` };
  if (tag === undefined && digest === undefined)
    return { error: `"${uri}" names no tag or digest: add :<tag> or @sha256:<digest> (there is no implicit "latest")` };
  return { registry, repository, tag, digest };
}

/** What the registry's manifest endpoint is asked for: the digest when pinned, else the tag. */
export const manifestReference = (ref: OciReference): string => ref.digest ?? (ref.tag as string);

export const formatOciReference = (ref: OciReference): string =>
  `oci://${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
