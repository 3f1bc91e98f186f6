/**
 * V8 settings for a long-running controller, applied before anything else is loaded: main.ts
 * imports this module first, so the Kubernetes client and everything after it are compiled and
 * allocated with them.
 *
 * `--optimize-for-size` keeps the young generation small and grows the old one in small steps.
 * The operator's live heap is small (~50 MiB at 1,000 ModelDeployments) but V8's defaults,
 * tuned for throughput, reserved ~190 MiB of heap for it, most of it an empty young generation
 * (npm run bench:operator, BENCHMARKS.md). Node refuses this flag in NODE_OPTIONS, so the
 * chart cannot pass it; setting it here covers every way the operator is started.
 */
import { setFlagsFromString } from 'node:v8';

export const OPERATOR_V8_FLAGS = ['--optimize-for-size'] as const;

for (const flag of OPERATOR_V8_FLAGS) setFlagsFromString(flag);
