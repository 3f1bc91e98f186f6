/**
 * The benchmark's model axis: the tiny iris classifier (examples/models/iris) and the ladder models built by
 * examples/ladder/make-ladder.sh (cached under ~/.cache/modelship/ladder, not committed). Each model gives
 * the one-row request every server receives (the same tensor in each server's own format) and the outputs
 * onnxruntime computed for that row (expected.json), which every server's answer is checked against before
 * it is measured.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LADDER, ensureLadder, type LadderName, TINY_RUNG } from '../ladder.ts';

export interface Tensor {
  name: string;
  shape: number[];
  data: number[];
}

export interface BenchModel {
  name: string;
  modelPath: string;
  /** model.onnx size in bytes */
  bytes: number;
  /** the pickled scikit-learn model (iris only: the scikit-learn peers serve it) */
  joblib?: string;
  /** the request's input: one row, shape [1, ...] */
  input: Tensor;
  /** V2 JSON body with that input */
  v2Body: string;
  /** what onnxruntime computed for that row, per output */
  expected: Tensor[];
}

export const LADDER_MODELS: readonly string[] = DEFAULT_LADDER;

/** Row 0 of every output in an expected.json (examples/models/*\/expected.json layout). */
function firstRows(expectedPath: string): Tensor[] {
  const e = JSON.parse(readFileSync(expectedPath, 'utf8')) as { outputs: Tensor[] };
  return e.outputs.map((o) => {
    const perRow = o.data.length / (o.shape[0] ?? 1);
    return { name: o.name, shape: [1, ...o.shape.slice(1)], data: o.data.slice(0, perRow) };
  });
}

function model(name: string, dir: string, input: Tensor, joblib?: string): BenchModel {
  const modelPath = join(dir, 'model.onnx');
  return {
    name,
    modelPath,
    bytes: statSync(modelPath).size,
    ...(joblib ? { joblib } : {}),
    input,
    v2Body: JSON.stringify({ inputs: [{ name: input.name, shape: input.shape, datatype: 'FP32', data: input.data }] }),
    expected: firstRows(join(dir, 'expected.json')),
  };
}

/** The models named (iris, mlp, resnet18), building the ladder models first if they are not cached. */
export async function loadModels(names: string[], log: (msg: string) => void): Promise<BenchModel[]> {
  const unknown = names.filter((n) => n !== TINY_RUNG.name && !LADDER_MODELS.includes(n));
  if (unknown.length) throw new Error(`BENCH_MODELS: unknown model(s) ${unknown.join(', ')} (iris, ${LADDER_MODELS.join(', ')})`);
  const ladder = names.filter((n) => n !== TINY_RUNG.name) as LadderName[];
  const dirs = new Map<string, string>();
  if (ladder.length) {
    const t0 = Date.now();
    for (const l of await ensureLadder(ladder)) dirs.set(l.name, l.dir);
    log(`ladder models ${ladder.join(', ')} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (examples/ladder/make-ladder.sh, cached)`);
  }
  return names.map((n) => {
    if (n === TINY_RUNG.name) {
      const dir = TINY_RUNG.dir;
      return model(n, dir, { name: 'input', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }, join(dir, 'model.joblib'));
    }
    const dir = dirs.get(n) as string;
    const req = JSON.parse(readFileSync(join(dir, 'request.json'), 'utf8')) as { inputs: Tensor[] };
    const input = req.inputs[0];
    if (!input) throw new Error(`${dir}/request.json has no input`);
    return model(n, dir, { name: input.name, shape: input.shape, data: input.data });
  });
}

/** float32 results from another engine build or thread count: equal within 1e-3 relative to the row's scale */
export function closeTo(got: readonly number[], want: readonly number[]): boolean {
  if (got.length !== want.length) return false;
  const scale = Math.max(1e-6, ...want.map(Math.abs));
  return want.every((w, i) => Math.abs((got[i] as number) - w) <= 1e-3 * scale);
}

/** A V2 answer carries every expected output, row 0 equal to what onnxruntime computed. */
export function v2Matches(m: BenchModel, json: Record<string, unknown>): boolean {
  const outs = json['outputs'] as { name: string; data: number[] }[] | undefined;
  if (!Array.isArray(outs)) return false;
  return m.expected.every((e) => {
    const o = outs.find((x) => x.name === e.name);
    return o !== undefined && closeTo(o.data.map(Number), e.data);
  });
}

/** BentoML's answer: one row, every output's values concatenated in the order of the outputs' names. */
export function concatenatedMatches(m: BenchModel, json: unknown): boolean {
  const want = [...m.expected].sort((a, b) => a.name.localeCompare(b.name)).flatMap((e) => e.data);
  return Array.isArray(json) && closeTo((json as unknown[]).flat(Infinity).map(Number), want);
}
