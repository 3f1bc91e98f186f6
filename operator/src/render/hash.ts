import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted, so equal values always serialise identically. Its output is
 * persisted (the pod-template hash annotation), so it must not change: keys compare by UTF-16
 * code unit, keys whose value is undefined are left out, an undefined array element is empty.
 * Built by concatenation: it runs on every reconcile, and the map/filter/join form allocated
 * several arrays per object level.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]) ?? '';
    }
    return `${out}]`;
  }
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    let out = '{';
    let first = true;
    for (const k of keys) {
      const v = obj[k];
      if (v === undefined) continue;
      if (!first) out += ',';
      first = false;
      out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/**
 * Whether `a` and `b` have the same canonicalJson, without building either string: objects by
 * their defined keys in any order, arrays element by element, everything else by JSON's value.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    let defined = 0;
    for (const k in x) {
      if (!Object.hasOwn(x, k) || x[k] === undefined) continue;
      defined++;
      if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false;
    }
    for (const k in y) if (Object.hasOwn(y, k) && y[k] !== undefined) defined--;
    return defined === 0;
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Short, stable content hash (10 hex characters, like Kubernetes' pod-template-hash length). */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 10);
}
