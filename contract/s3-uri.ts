/**
 * s3://<bucket>/<key> model URIs, parsed by one set of rules the runtime (fetch) and the CRD's CEL
 * rule (S3_URI_PATTERN) share. The bucket follows the S3 bucket naming rules (3-63 lowercase
 * letters, digits, '.' and '-', starting and ending with a letter or digit); the key is the rest of
 * the URI taken literally, as the AWS CLI does (no percent-decoding), and must name an object: it
 * is not empty and does not end in "/" (that would be a "folder").
 */

const BUCKET = String.raw`[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]`;
/** The whole s3:// URI (anchored); the same text is the CRD's CEL `matches()` pattern. */
export const S3_URI_PATTERN = `^s3://${BUCKET}/.*[^/]$`;
const WHOLE = new RegExp(`^s3://(${BUCKET})/(.*[^/])$`);

/** S3's own limit on a key, in UTF-8 bytes. */
export const MAX_S3_KEY_BYTES = 1024;

export interface S3Location {
  bucket: string;
  key: string;
}

/** The parsed URI, or a one-line reason it is not one. */
export function parseS3Uri(uri: string): S3Location | { error: string } {
  if (!uri.startsWith('s3://')) return { error: `an S3 model URI starts with s3://, got "${shorten(uri)}"` };
  const m = WHOLE.exec(uri);
  if (!m) {
    const rest = uri.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const why =
      slash === -1 || slash === rest.length - 1
        ? 'it names a bucket but no object key'
        : rest.endsWith('/')
          ? 'the key ends in "/" (a folder, not an object)'
          : 'the bucket name must be 3-63 lowercase letters, digits, "." and "-", starting and ending with a letter or digit';
    return {
      error: `"${shorten(uri)}" is not an S3 object URI (${why}): expected s3://<bucket>/<key>, e.g. s3://models/iris/3/model.onnx`,
    };
  }
  const bucket = m[1] as string;
  const key = m[2] as string;
  if (Buffer.byteLength(key, 'utf8') > MAX_S3_KEY_BYTES)
    return { error: `the key of "${shorten(uri)}" is longer than ${MAX_S3_KEY_BYTES} bytes` };
  return { bucket, key };
}

export const formatS3Uri = (l: S3Location): string => `s3://${l.bucket}/${l.key}`;

const shorten = (s: string): string => (s.length > 120 ? `${s.slice(0, 120)}...` : s);
