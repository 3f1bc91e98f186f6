/**
 * The access log's own cost, apart from HTTP: CPU per request of the sampling decision plus, for
 * the sampled ones, building and writing the JSON line (winston, as the runtime writes it), in a
 * loop. Complements cpu-per-request.ts, whose per-round noise on a shared machine is larger than a
 * 1-in-100 line's cost. Run with stdout to a file, as a container's goes:
 *   node bench/runtime/access-log-line.ts off|1/100|on > /tmp/access.log
 */
import { performance } from 'node:perf_hooks';
import { parseAccessLog } from '../../contract/runtime-contract.ts';
import { AccessLog } from '../../runtime/src/http/access-log.ts';

const setting = parseAccessLog(process.argv[2] ?? 'on');
if ('error' in setting) throw new Error(setting.error);
const log = new AccessLog(setting);
const record = {
  method: 'POST',
  path: '/v2/models/iris/infer',
  protocol: 'v2',
  model: 'iris',
  version: '1',
  status: 200,
  durationMs: 0.4321,
  bytesIn: 95,
  bytesOut: 170,
  requestId: 'f3c1e1d2-7c7e-4b59-9a57-0f7c3d1a2b3c',
  clientIp: '127.0.0.1',
};
const N = 200_000;
const rounds: number[] = [];
for (let round = 0; round < 5; round++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (log.sample()) log.write(record);
  const c = process.cpuUsage(c0);
  rounds.push((c.user + c.system) / N);
  process.stderr.write(
    `round ${round + 1}: ${rounds.at(-1)?.toFixed(3)} µs CPU, ${(((performance.now() - t0) * 1000) / N).toFixed(3)} µs wall per request\n`,
  );
}
rounds.sort((a, b) => a - b);
process.stderr.write(`${process.argv[2] ?? 'on'}: median ${rounds[2]?.toFixed(3)} µs CPU per request (${N} requests x 5 rounds)\n`);
