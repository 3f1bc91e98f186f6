/**
 * The benchmark's models: the ladder's `big` rung (bench/ladder.ts: a ~100 MB dense network with
 * seeded weights and onnxruntime-computed expected outputs, generated once per machine) and iris,
 * the tiny rung, for the baseline.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureLadder, TINY_RUNG, type LadderModel } from '../ladder.ts';

export interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

export interface BenchModel {
  /** what the table calls it */
  label: string;
  path: string;
  bytes: number;
  sha256: string;
  expected: { inputs: Tensor[]; outputs: Tensor[] };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function load(rung: LadderModel): Promise<BenchModel> {
  const path = join(rung.dir, 'model.onnx');
  return {
    label: rung.name,
    path,
    bytes: statSync(path).size,
    sha256: await sha256Of(path),
    expected: JSON.parse(readFileSync(join(rung.dir, 'expected.json'), 'utf8')) as BenchModel['expected'],
  };
}

/** The ladder's `big` rung (built on first use: a venv from PyPI and about a minute). */
export async function bigModel(): Promise<BenchModel> {
  const [big] = await ensureLadder(['big']);
  return load(big!);
}

/** examples/models/iris: 506 bytes, the baseline for what a pod start costs without a download to speak of. */
export const irisModel = (): Promise<BenchModel> => load(TINY_RUNG);
