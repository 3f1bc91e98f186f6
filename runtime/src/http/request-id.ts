/**
 * Request identity: the id every API answer carries back in `x-request-id` (the client's own when it
 * is sane, otherwise one made here) and the W3C Trace Context `traceparent` when the client sent a
 * valid one (https://www.w3.org/TR/trace-context/), whose trace-id goes into the log lines of the
 * request. Pure: headers in, identity out. A bad value is never an error: an unusable x-request-id
 * is replaced, an invalid traceparent is ignored (the W3C rule: the receiver starts a new trace).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Header names as Node hands them over (lowercase). */
export const REQUEST_ID_HEADER = 'x-request-id';
export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';

/** Longest client request id kept (a UUID is 36; room for prefixed ids). */
export const REQUEST_ID_MAX_LENGTH = 128;
/** Printable ASCII without spaces: safe in a header, a log line and a shell. */
const SANE_REQUEST_ID = /^[\x21-\x7e]+$/;

export interface RequestIdentity {
  /** the client's x-request-id when sane, else a new UUID */
  requestId: string;
  /** the client's traceparent when valid (echoed and forwarded as it came) */
  traceparent: string | undefined;
  /** its 32-hex trace-id */
  traceId: string | undefined;
}

/** The client's x-request-id when it is one printable, space-free value of at most REQUEST_ID_MAX_LENGTH characters. */
export function saneRequestId(raw: string | string[] | undefined): string | undefined {
  // Node joins a repeated x-request-id with ", ", which the check refuses (two ids are not one)
  if (typeof raw !== 'string') return undefined;
  return raw.length > 0 && raw.length <= REQUEST_ID_MAX_LENGTH && SANE_REQUEST_ID.test(raw) ? raw : undefined;
}

const HEX2 = /^[0-9a-f]{2}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const PARENT_ID = /^[0-9a-f]{16}$/;
const ALL_ZERO = /^0+$/;
/** version-00 length: 2 + 1 + 32 + 1 + 16 + 1 + 2 */
const TRACEPARENT_V0_LENGTH = 55;
/** no real traceparent is longer; a longer header is not parsed at all */
const TRACEPARENT_MAX_LENGTH = 512;

/**
 * The trace-id of a valid traceparent, else undefined. Version 00 must be exactly
 * `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lowercase, ids not all zeros; a later
 * version is read by its first 55 characters, followed by nothing or by "-" (the W3C rule for
 * versions this parser does not know); version ff is invalid.
 */
export function traceIdOf(raw: string | string[] | undefined): string | undefined {
  if (typeof raw !== 'string' || raw.length < TRACEPARENT_V0_LENGTH || raw.length > TRACEPARENT_MAX_LENGTH) return undefined;
  const version = raw.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return undefined;
  if (version === '00' ? raw.length !== TRACEPARENT_V0_LENGTH : raw.length > TRACEPARENT_V0_LENGTH && raw[TRACEPARENT_V0_LENGTH] !== '-')
    return undefined;
  if (raw[2] !== '-' || raw[35] !== '-' || raw[52] !== '-') return undefined;
  const traceId = raw.slice(3, 35);
  const parentId = raw.slice(36, 52);
  const flags = raw.slice(53, 55);
  if (!TRACE_ID.test(traceId) || ALL_ZERO.test(traceId)) return undefined;
  if (!PARENT_ID.test(parentId) || ALL_ZERO.test(parentId)) return undefined;
  if (!HEX2.test(flags)) return undefined;
  return traceId;
}

export function requestIdentity(headers: IncomingHttpHeaders, newId: () => string = randomUUID): RequestIdentity {
  const raw = headers[TRACEPARENT_HEADER];
  const traceId = traceIdOf(raw);
  return {
    requestId: saneRequestId(headers[REQUEST_ID_HEADER]) ?? newId(),
    traceparent: traceId === undefined ? undefined : (raw as string),
    traceId,
  };
}
