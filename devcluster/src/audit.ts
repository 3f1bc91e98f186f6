// Reading the test control plane's audit log (JSON lines, level Metadata, write verbs only:
// create, update, patch, delete, deletecollection; one ResponseComplete event per request).
// The API server writes an event right after it answers, so poll (waitFor) rather than read once.

import { readFile, stat } from 'node:fs/promises';

export interface AuditEvent {
  auditID: string;
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  userAgent?: string;
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number; reason?: string };
  requestReceivedTimestamp?: string;
}

export const WRITE_VERBS = ['create', 'update', 'patch', 'delete', 'deletecollection'] as const;

function defaultPath(): string {
  const path = process.env.MODELSHIP_TEST_AUDIT_LOG;
  if (!path) throw new Error('no audit log path given and MODELSHIP_TEST_AUDIT_LOG is not set');
  return path;
}

/** Current size of the audit log: pass it as `since` later to read only newer events. */
export async function auditMark(path: string = defaultPath()): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Parses the JSON lines of the audit log (from byte offset `since`); an incomplete last line is skipped. */
export function parseAuditLog(text: string): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as AuditEvent);
    } catch {
      // partially written line
    }
  }
  return events;
}

export async function readAuditEvents(opts: { path?: string; since?: number } = {}): Promise<AuditEvent[]> {
  const path = opts.path ?? defaultPath();
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseAuditLog(buf.subarray(opts.since ?? 0).toString('utf8'));
}

/** Write requests made by `username` (all write verbs are logged; reads never are). */
export function writesBy(events: readonly AuditEvent[], username: string): AuditEvent[] {
  return events.filter((e) => e.user.username === username && (WRITE_VERBS as readonly string[]).includes(e.verb));
}
