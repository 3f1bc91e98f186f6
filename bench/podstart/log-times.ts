/**
 * The time a container logged a given message: the winston `timestamp` of the first JSON line
 * whose `message` equals it, in a container log as the kubelet writes it on the node (CRI format:
 * `<time> stdout F <line>`). Undefined when no such line is there.
 */
export function loggedAtIn(log: string, message: string): number | undefined {
  for (const line of log.split('\n')) {
    const brace = line.indexOf('{');
    if (brace < 0) continue;
    try {
      const entry = JSON.parse(line.slice(brace)) as { message?: unknown; timestamp?: unknown };
      if (entry.message === message && typeof entry.timestamp === 'string') {
        const at = Date.parse(entry.timestamp);
        if (Number.isFinite(at)) return at;
      }
    } catch {
      // a partial line (the kubelet splits long lines: `P` instead of `F`) or not JSON
    }
  }
  return undefined;
}
