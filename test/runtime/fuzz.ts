/**
 * Fuzz-suite helpers shared by test/runtime/fuzz-*.test.ts and test/fuzz/run.ts:
 * - provisioning of schemathesis (pinned in test/fuzz/requirements.txt) in a cached venv, as the
 *   tritonclient test does, and a runner that parses its JSON report;
 * - RSS sampling of the real runtime process (/proc/<pid>/status VmRSS);
 * - raw HTTP sends (any path bytes, any header value) and the verdict every answer must pass:
 *   no 5xx (except 503 with Retry-After), every 4xx/503 body JSON {"error": "<non-empty>"};
 * - findings collected in a file (FUZZ_FINDINGS_FILE) that `npm run fuzz` aggregates.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '@modelship/devcluster/runtime-process';

export const FUZZ_DIR = join(ROOT, 'test', 'fuzz');
const REQUIREMENTS = join(FUZZ_DIR, 'requirements.txt');
export const SCHEMATHESIS_VERSION = '4.32.5';

/** The RSS the runtime (1 worker, iris or dtypes) must stay under while fuzzed: ~160 MiB idle. */
export const RSS_BOUND_MIB = Number(process.env['FUZZ_RSS_BOUND_MIB'] ?? 384);

/** Case count from the environment (npm run fuzz raises them), else the bounded npm-test default. */
export function fuzzCount(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// schemathesis

function hasSchemathesis(py: string): boolean {
  if (!existsSync(py)) return false;
  const r = spawnSync(py, ['-c', 'import schemathesis; print(schemathesis.SCHEMATHESIS_VERSION)'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === SCHEMATHESIS_VERSION;
}

/** A Python with the pinned schemathesis: MODELSHIP_SCHEMATHESIS_PYTHON, else a cached venv made here. */
export function provisionSchemathesis(): string {
  const given = process.env['MODELSHIP_SCHEMATHESIS_PYTHON'];
  if (given) {
    if (!hasSchemathesis(given)) throw new Error(`MODELSHIP_SCHEMATHESIS_PYTHON=${given} has no schemathesis ${SCHEMATHESIS_VERSION}`);
    return given;
  }
  const cache = process.env['MODELSHIP_CACHE_DIR'] ?? join(homedir(), '.cache', 'modelship');
  const venv = join(cache, `schemathesis-${SCHEMATHESIS_VERSION}-venv`);
  const py = join(venv, 'bin', 'python');
  if (hasSchemathesis(py)) return py;
  mkdirSync(cache, { recursive: true });
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`fuzz: creating ${venv} (pip install -r test/fuzz/requirements.txt; once per machine)\n`);
  execFileSync('python3', ['-m', 'venv', tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(join(tmp, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 600_000,
  });
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  // venv scripts hard-code their own path; `python -m schemathesis.cli` works from the renamed folder.
  if (!hasSchemathesis(py)) throw new Error(`could not provision schemathesis ${SCHEMATHESIS_VERSION} in ${venv}`);
  return py;
}

export interface SchemathesisOptions {
  /** max examples per operation (fuzzing phase) */
  maxExamples: number;
  phases: string;
  seed: number;
  workers?: number;
}

export interface SchemathesisResult {
  exitCode: number;
  generated: number;
  failures: { title?: string; [k: string]: unknown }[];
  errors: { title?: string; count?: number }[];
  /** the tail of schemathesis' own output (failures with their curl reproductions) */
  output: string;
}

/** The checks every response must pass (the last two are in test/fuzz/hooks.py). */
export const SCHEMATHESIS_CHECKS = [
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'response_headers_conformance',
  'modelship_no_server_error',
  'modelship_error_body',
].join(',');

/** Run `schemathesis run <base>/openapi.json` (async: the caller keeps sampling RSS meanwhile). */
export async function runSchemathesis(python: string, baseUrl: string, opts: SchemathesisOptions): Promise<SchemathesisResult> {
  const reportDir = mkdtempSync(join(tmpdir(), 'modelship-schemathesis-'));
  try {
    const args = [
      '-m',
      'schemathesis.cli',
      'run',
      `${baseUrl}/openapi.json`,
      '--checks',
      SCHEMATHESIS_CHECKS,
      '--phases',
      opts.phases,
      '--max-examples',
      String(opts.maxExamples),
      '--seed',
      String(opts.seed),
      '--workers',
      String(opts.workers ?? 2),
      '--request-timeout',
      '30',
      '--continue-on-failure',
      '--report',
      'json',
      '--report-dir',
      reportDir,
    ];
    const child = spawn(python, args, {
      // cwd: the report folder, where schemathesis/hypothesis leave their caches (not the work tree)
      cwd: reportDir,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        SCHEMATHESIS_HOOKS: 'hooks',
        PYTHONPATH: FUZZ_DIR,
        PYTHONDONTWRITEBYTECODE: '1',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
    const file = readdirSync(reportDir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`schemathesis wrote no JSON report (exit ${exitCode}):\n${out.slice(-4000)}`);
    const report = JSON.parse(readFileSync(join(reportDir, file), 'utf8')) as {
      test_cases: { generated: number };
      failures: SchemathesisResult['failures'];
      errors: SchemathesisResult['errors'];
    };
    return {
      exitCode,
      generated: report.test_cases.generated,
      failures: report.failures,
      errors: report.errors,
      output: out.slice(-20_000),
    };
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// process health

export function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the process's RSS every `everyMs` until stopped; keeps the maximum. */
export function sampleRss(pid: number, everyMs = 100): { max: () => number; stop: () => number } {
  let max = rssMiB(pid) ?? 0;
  const timer = setInterval(() => {
    const v = rssMiB(pid);
    if (v !== undefined && v > max) max = v;
  }, everyMs);
  return {
    max: () => max,
    stop: () => {
      clearInterval(timer);
      const v = rssMiB(pid);
      if (v !== undefined && v > max) max = v;
      return max;
    },
  };
}

/** The runtime's own count of answers (modelship_requests_total), by status code. */
export async function answeredByCode(baseUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const byCode = new Map<string, number>();
  for (const m of text.matchAll(/^modelship_requests_total\{[^}]*code="(\d+)"[^}]*\} (\d+)/gm)) {
    byCode.set(m[1] as string, (byCode.get(m[1] as string) ?? 0) + Number(m[2]));
  }
  return byCode;
}

// ---------------------------------------------------------------------------------------------
// raw HTTP and the verdict

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** Send exactly these bytes (path unnormalized, headers as given) over a keep-alive connection. */
export function sendRaw(port: number, r: RawRequest, timeoutMs = 30_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: r.method,
        path: r.path,
        agent,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Why this answer breaks the pass criteria, or undefined when it is acceptable. */
export function verdict(reply: RawReply): string | undefined {
  const { status } = reply;
  if (status >= 500 && !(status === 503 && reply.headers['retry-after'])) {
    return `status ${status} (5xx other than 503 + Retry-After)`;
  }
  if ((status >= 400 && status < 500) || status === 503) {
    let body: unknown;
    try {
      body = JSON.parse(reply.body.toString('utf8'));
    } catch {
      return `${status} body is not JSON`;
    }
    const error = (body as { error?: unknown } | null)?.error;
    if (typeof error !== 'string' || error.trim() === '') return `${status} body is not {"error": "<non-empty string>"}`;
  }
  return undefined;
}

const show = (b: Buffer | undefined, max = 400): string => {
  if (!b) return '(none)';
  const s = b.toString('latin1');
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}... (${b.length} bytes)` : s);
};

/** One finding as it goes to the findings file: the request, the answer, what is wrong. */
export function describeFinding(suite: string, r: RawRequest, reply: RawReply | undefined, problem: string): string {
  const hdrs = Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return [
    `### ${suite}: ${problem}`,
    `- request: ${r.method} ${JSON.stringify(r.path)} headers {${hdrs}} body ${show(r.body)}`,
    reply ? `- response: ${reply.status} ${show(reply.body)}` : '- response: none',
    '',
  ].join('\n');
}

/** Append findings to FUZZ_FINDINGS_FILE (set by npm run fuzz), if set. */
export function recordFindings(text: string): void {
  const file = process.env['FUZZ_FINDINGS_FILE'];
  if (file && text) appendFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

/** One line of counts per suite to FUZZ_STATS_FILE (set by npm run fuzz): requests, findings, RSS max. */
export function recordStats(stats: { suite: string; model: string; requests: number; findings: number; rssMaxMiB: number }): void {
  const file = process.env['FUZZ_STATS_FILE'];
  if (file) appendFileSync(file, `${JSON.stringify(stats)}\n`);
}
