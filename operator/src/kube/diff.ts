/**
 * Decides whether applying `desired` would change `actual`: every field we set must be present
 * with the same value. Fields the API server or other controllers add are ignored, so a
 * steady state produces no write. Quantities compare by value ("1000m" equals "1").
 * Lists of objects mirror server-side apply's keyed lists: each desired entry must match one
 * actual entry, and entries added by other field managers are tolerated (apply would keep them
 * anyway, so treating them as a difference would only cause useless writes).
 * Lists of scalars (args, command) must be equal.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  return firstDifference(desired, actual) === undefined;
}

/** The path of the first field where `actual` does not satisfy `desired`, for logs; undefined if none. */
export function firstDifference(desired: unknown, actual: unknown, path = ''): string | undefined {
  if (desired === undefined) return undefined;
  if (desired === null) return actual === null || actual === undefined ? undefined : path || '.';
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual)) return path || '.';
    if (desired.every(isPlainObject)) {
      const i = desired.findIndex((d) => !actual.some((a) => firstDifference(d, a) === undefined));
      return i === -1 ? undefined : `${path}[${i}]`;
    }
    if (actual.length !== desired.length) return `${path}.length`;
    for (let i = 0; i < desired.length; i++) {
      const diff = firstDifference(desired[i], actual[i], `${path}[${i}]`);
      if (diff) return diff;
    }
    return undefined;
  }
  if (typeof desired === 'object') {
    if (!isPlainObject(actual) && !(actual instanceof Object)) return path || '.';
    for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
      const diff = firstDifference(v, (actual as Record<string, unknown>)[k], `${path}.${k}`);
      if (diff) return diff;
    }
    return undefined;
  }
  if (desired === actual || sameQuantity(desired, actual)) return undefined;
  return path || '.';
}

const QUANTITY = /^([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const FACTORS: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Value of a Kubernetes resource quantity string, or undefined if it is not one. */
export function parseQuantity(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * (FACTORS[m[2] ?? ''] as number);
}

function sameQuantity(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' && typeof b !== 'string') return false;
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (x === undefined || y === undefined) return false;
  return Math.abs(x - y) <= Math.abs(x) * 1e-9;
}

function isPlainObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  fieldsV1?: unknown;
}

/** Whether `manager` owns the field at `path` (e.g. ['spec', 'replicas']) through an Apply. */
export function ownsField(managedFields: readonly ManagedFieldsEntry[] | undefined, manager: string, path: readonly string[]): boolean {
  return (managedFields ?? []).some((entry) => {
    if (entry.manager !== manager || entry.operation !== 'Apply') return false;
    let node: unknown = entry.fieldsV1;
    for (const key of path) {
      if (!node || typeof node !== 'object') return false;
      node = (node as Record<string, unknown>)[`f:${key}`];
    }
    return node !== undefined;
  });
}
