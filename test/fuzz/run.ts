// `npm run fuzz`: the fuzz suite with large case counts (npm test runs the same files bounded).
//   - test/runtime/fuzz-schemathesis.test.ts: schemathesis from /openapi.json, FUZZ_SCHEMATHESIS_EXAMPLES per operation
//   - test/runtime/fuzz-binary.test.ts: binary extension / paths / V1 nesting, FUZZ_BINARY_RUNS cases
//   - every other unit/runtime test that uses fast-check (the decoder and batcher properties), FUZZ_RUNS runs per property
// All against the real runtime process where HTTP is involved. Prints the request counts, the RSS
// maximum and every finding; exits non-zero on any finding, a failed test, or fewer than
// MIN_REQUESTS HTTP requests. Each count can be overridden from the environment; FUZZ_SEED makes a
// run reproducible (a random seed is chosen and printed otherwise).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '@modelship/devcluster/runtime-process';

const MIN_REQUESTS = 10_000;

const defaults: Record<string, string> = {
  FUZZ_SEED: String(Math.floor(Math.random() * 2 ** 31)),
  FUZZ_SCHEMATHESIS_EXAMPLES: '150',
  FUZZ_SCHEMATHESIS_PHASES: 'examples,coverage,fuzzing,stateful',
  FUZZ_BINARY_RUNS: '3000',
  FUZZ_RUNS: '2000',
};

function fastCheckTests(): string[] {
  const files: string[] = [];
  for (const dir of ['test/unit', 'test/runtime']) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.test.ts')) continue;
      const file = join(entry.parentPath, entry.name);
      if (/from 'fast-check'/.test(readFileSync(file, 'utf8'))) files.push(relative(ROOT, file));
    }
  }
  return files;
}

interface Stats {
  suite: string;
  model: string;
  requests: number;
  findings: number;
  rssMaxMiB: number;
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'modelship-fuzz-'));
  const findingsFile = join(work, 'findings.md');
  const statsFile = join(work, 'stats.jsonl');
  const env: NodeJS.ProcessEnv = { ...process.env, FUZZ_FINDINGS_FILE: findingsFile, FUZZ_STATS_FILE: statsFile };
  for (const [k, v] of Object.entries(defaults)) if (!env[k]) env[k] = v;
  const files = [...new Set(['test/runtime/fuzz-schemathesis.test.ts', ...fastCheckTests()])].sort();
  const settings = Object.keys(defaults)
    .map((k) => `${k}=${env[k]}`)
    .join(' ');
  process.stdout.write(`fuzz: ${settings}\nfuzz: ${files.join(' ')}\n`);
  const started = Date.now();
  try {
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--test', '--test-concurrency=1', '--test-reporter=spec', '--test-timeout=3600000', ...files],
        {
          cwd: ROOT,
          env,
          stdio: 'inherit',
        },
      );
      child.on('close', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    const stats: Stats[] = existsSync(statsFile)
      ? readFileSync(statsFile, 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as Stats)
      : [];
    const requests = stats.reduce((a, s) => a + s.requests, 0);
    const findings = stats.reduce((a, s) => a + s.findings, 0);
    const rssMax = stats.reduce((a, s) => Math.max(a, s.rssMaxMiB), 0);
    const lines = [
      '',
      '── fuzz summary ──',
      ...stats.map(
        (s) =>
          `${s.suite.padEnd(16)} ${s.model.padEnd(8)} ${String(s.requests).padStart(7)} requests  ${s.findings} findings  RSS max ${s.rssMaxMiB} MiB`,
      ),
      `HTTP requests: ${requests} (minimum ${MIN_REQUESTS}); property runs per fast-check property: FUZZ_RUNS=${env['FUZZ_RUNS']}`,
      `findings: ${findings}; runtime RSS max: ${rssMax} MiB; node --test exit ${code}; ${((Date.now() - started) / 1000).toFixed(0)} s; ${settings}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (existsSync(findingsFile)) process.stdout.write(`\n── findings ──\n${readFileSync(findingsFile, 'utf8')}\n`);
    if (requests < MIN_REQUESTS) process.stdout.write(`fuzz: only ${requests} HTTP requests, fewer than ${MIN_REQUESTS}\n`);
    return code === 0 && findings === 0 && requests >= MIN_REQUESTS ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
