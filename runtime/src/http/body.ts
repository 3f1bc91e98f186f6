/**
 * Reading an inference request body against its limits: the size limit (413), the in-flight
 * memory budget (reserved before the bytes are held: 503 when full, 413 when it can never fit)
 * and the idle timeout between chunks (408).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, unavailable } from '../errors.ts';
import type { MemoryBudget, Reservation } from '../execution/budget.ts';

/** Bodies this much over the limit are not drained: the connection is closed instead. */
const DRAIN_CAP = 64 * 1024 * 1024;

export const overBudget = (budget: MemoryBudget, need: number): HttpError =>
  unavailable(
    `the server is at its in-flight memory budget (${budget.inUse} of ${budget.limit} bytes in use; this request needs ${need} more); retry later`,
  );

export interface BodyError {
  err: HttpError;
  /** the connection cannot be reused (the body was not read to its end) */
  close: boolean;
}
/**
 * Read the whole body, reserving its bytes against the budget first (the declared length, or
 * chunk by chunk). Fails with 413 past `limit`, 503 when the budget is full (the rest of the
 * body is read and dropped so the client gets the answer, unless it is huge), 408 when the
 * client stops sending for `idleMs`.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  idleMs: number,
  reservation: Reservation,
  budget: MemoryBudget,
  onBody: (err: BodyError | undefined, body: Buffer) => void,
): void {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  const tooLarge = () => new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
  let settled = false;
  const settle = (err: BodyError | undefined, body: Buffer) => {
    if (settled) return;
    settled = true;
    clearTimeout(idle);
    onBody(err, body);
  };
  const idle = setTimeout(() => {
    settle({ err: new HttpError(408, `the request body stalled: no bytes for ${idleMs} ms`), close: true }, Buffer.alloc(0));
  }, idleMs);
  req.on('error', () => {});
  req.on('close', () => clearTimeout(idle));
  /** the answer once the rest of the body has been read and dropped */
  let dropping: HttpError | undefined;
  const discard = (err: HttpError, pending: number | undefined) => {
    if (pending !== undefined && pending > DRAIN_CAP) {
      settle({ err, close: true }, Buffer.alloc(0));
      return;
    }
    dropping = err;
  };
  if (declared !== undefined && declared > limit) discard(tooLarge(), declared - limit);
  else if (declared !== undefined && declared > budget.limit) {
    discard(
      new HttpError(413, `request body of ${declared} bytes is larger than the in-flight memory budget of ${budget.limit} bytes`),
      declared,
    );
  } else if (declared !== undefined && !reservation.add(declared)) discard(overBudget(budget, declared), declared);
  if (settled) return;
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    idle.refresh();
    if (dropping) return;
    size += chunk.length;
    if (size > limit) {
      chunks.length = 0;
      discard(tooLarge(), undefined);
      return;
    }
    // without a Content-Length, reserve as the bytes arrive
    if (declared === undefined && !reservation.add(chunk.length)) {
      chunks.length = 0;
      discard(overBudget(budget, chunk.length), undefined);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (dropping) settle({ err: dropping, close: false }, Buffer.alloc(0));
    else settle(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
}
