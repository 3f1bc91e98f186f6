// Rounds of concurrent 16 MB binary iris requests against a runtime on 127.0.0.1:<port>, printing
// the memory cgroup's peak and current usage after each round. Used by run.sh.
// usage: node flood.ts <port> <concurrent> <rounds> <cgroup dir>
import { readFileSync } from 'node:fs';
import { irisBinaryBody, postBinary } from '@modelship/devcluster/iris-binary';

const [port, concurrent, rounds] = process.argv.slice(2, 5).map(Number);
const cgroup = process.argv[5] ?? '/sys/fs/cgroup/memory/modelship-memory-retention';
const url = `http://127.0.0.1:${port}/v2/models/iris/infer`;
const { body, headerLength } = irisBinaryBody(1_000_000);
const mib = (file: string) => (Number(readFileSync(`${cgroup}/${file}`, 'utf8')) / 2 ** 20).toFixed(0);
for (let round = 1; round <= (rounds ?? 1); round++) {
  const replies = await Promise.allSettled(Array.from({ length: concurrent ?? 40 }, () => postBinary(url, body, headerLength, 120_000)));
  const counts: Record<string, number> = {};
  for (const r of replies) {
    const k = r.status === 'fulfilled' ? String(r.value.status) : `error: ${(r.reason as Error).message}`;
    counts[k] = (counts[k] ?? 0) + 1;
  }
  const oomKills = /oom_kill (\d+)/.exec(readFileSync(`${cgroup}/memory.oom_control`, 'utf8'))?.[1] ?? '?';
  process.stdout.write(
    `round ${round}: ${JSON.stringify(counts)} peak ${mib('memory.max_usage_in_bytes')} MiB, now ${mib('memory.usage_in_bytes')} MiB, oom kills ${oomKills}\n`,
  );
}
