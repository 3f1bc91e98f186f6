/**
 * Nesting depth of JSON text, measured on the raw bytes before JSON.parse builds anything: V8
 * parses deep input without recursion, but 16 MB of "[[[..." costs ~29x the body in heap and
 * seconds of CPU only to be refused afterwards. Pure.
 *
 * Brackets inside strings do not count. Malformed JSON gives some depth and is left for JSON.parse
 * to name. Bodies with few structural bytes (flat numeric data, the common large body) are
 * crossed with native indexOf jumps; dense ones with a byte loop.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const STRUCTURAL = [QUOTE, OPEN_ARRAY, OPEN_OBJECT, CLOSE_ARRAY, CLOSE_OBJECT] as const;

/** Below this many bytes per structural byte, a byte loop is cheaper than native jumps. */
const JUMP_MIN_SPACING = 24;
/** Bodies smaller than this are scanned by the byte loop (an indexOf call costs ~100 ns). */
const JUMP_MIN_BYTES = 64 * 1024;

/**
 * The deepest nesting of arrays and objects in `bytes`; the scan stops as soon as the depth
 * passes `limit` (the result is then limit + 1).
 */
export function jsonDepth(bytes: Buffer, limit: number): number {
  const n = bytes.length;
  if (n < JUMP_MIN_BYTES) return loopFrom(bytes, 0, 0, 0, limit);
  const next = [-1, -1, -1, -1, -1];
  let depth = 0;
  let max = 0;
  let pos = 0;
  let steps = 0;
  for (;;) {
    if (steps >= 64 && steps * JUMP_MIN_SPACING > pos) return loopFrom(bytes, pos, depth, max, limit);
    let k = -1;
    let at = n;
    for (let j = 0; j < STRUCTURAL.length; j++) {
      let c = next[j] as number;
      if (c < pos) {
        c = bytes.indexOf(STRUCTURAL[j] as number, pos);
        if (c === -1) c = n;
        next[j] = c;
      }
      if (c < at) {
        at = c;
        k = j;
      }
    }
    if (k === -1) return max;
    steps++;
    if (k === 0) {
      const end = closingQuote(bytes, at);
      if (end === -1) return max;
      pos = end + 1;
    } else if (k <= 2) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
      pos = at + 1;
    } else {
      depth--;
      pos = at + 1;
    }
  }
}

/** Index of the quote closing the string opened at `open`, or -1 when it is unterminated. */
function closingQuote(bytes: Buffer, open: number): number {
  let q = open + 1;
  for (;;) {
    q = bytes.indexOf(QUOTE, q);
    if (q === -1) return -1;
    let backslashes = 0;
    for (let t = q - 1; t > open && bytes[t] === BACKSLASH; t--) backslashes++;
    if (backslashes % 2 === 0) return q;
    q++;
  }
}

function loopFrom(bytes: Buffer, start: number, depth: number, max: number, limit: number): number {
  const n = bytes.length;
  for (let i = start; i < n; i++) {
    const b = bytes[i] as number;
    // digits, signs, '.', ',', ':', whitespace and capitals are all below '[': the common case
    if (b < OPEN_ARRAY && b !== QUOTE) continue;
    if (b === QUOTE) {
      for (i++; i < n; i++) {
        const c = bytes[i] as number;
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
    } else if (b === OPEN_ARRAY || b === OPEN_OBJECT) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === CLOSE_ARRAY || b === CLOSE_OBJECT) {
      depth--;
    }
  }
  return max;
}
