/**
 * The served model's description, built from onnxruntime's input/output metadata.
 * Pure: the worker sends the raw metadata, this turns it into V2 tensor specs.
 */
import { fromOrt, type DatatypeInfo, type V2Datatype } from './datatypes.ts';
import { ModelLoadError } from '../errors.ts';

/** What a worker reports for one input or output (a subset of onnxruntime's ValueMetadata). */
export interface RawValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: ReadonlyArray<number | string>;
}

export interface TensorSpec {
  name: string;
  datatype: V2Datatype;
  info: DatatypeInfo;
  /** -1 for a symbolic or unknown dimension */
  shape: number[];
  /** a classifier's probability output: the class of each column (from the ZipMap the runtime removed) */
  classLabels?: readonly (string | number)[];
}

export interface ModelSpec {
  name: string;
  version: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  inputByName: Map<string, TensorSpec>;
  outputByName: Map<string, TensorSpec>;
  /** every input and output has a dynamic first dimension: requests can be concatenated on it */
  batchable: boolean;
}

function toSpec(m: RawValueMetadata, kind: 'input' | 'output'): TensorSpec {
  if (!m.isTensor || m.type === undefined) {
    throw new ModelLoadError(
      `${kind} "${m.name}" is not a tensor (sequence/map outputs such as a ZipMap are not supported: convert with zipmap disabled)`,
    );
  }
  const info = fromOrt(m.type);
  if (!info) throw new ModelLoadError(`${kind} "${m.name}" has unsupported type ${m.type}`);
  const shape = (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: m.name, datatype: info.v2, info, shape };
}

export function buildModelSpec(
  name: string,
  version: string,
  inputs: RawValueMetadata[],
  outputs: RawValueMetadata[],
  classLabels: ReadonlyMap<string, readonly (string | number)[]> = new Map(),
): ModelSpec {
  if (inputs.length === 0) throw new ModelLoadError('model has no inputs');
  const ins = inputs.map((m) => toSpec(m, 'input'));
  const outs = outputs.map((m) => {
    const spec = toSpec(m, 'output');
    const labels = classLabels.get(m.name);
    return labels ? { ...spec, classLabels: labels } : spec;
  });
  const dynamicFirst = (t: TensorSpec) => t.shape.length >= 1 && t.shape[0] === -1;
  return {
    name,
    version,
    inputs: ins,
    outputs: outs,
    inputByName: new Map(ins.map((t) => [t.name, t])),
    outputByName: new Map(outs.map((t) => [t.name, t])),
    batchable: ins.every(dynamicFirst) && outs.every(dynamicFirst),
  };
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** V2 model metadata response. */
export function v2Metadata(model: ModelSpec): object {
  const t = (s: TensorSpec) => ({
    name: s.name,
    datatype: s.datatype,
    shape: s.shape,
    ...(s.classLabels ? { parameters: { class_labels: s.classLabels } } : {}),
  });
  return {
    name: model.name,
    versions: [model.version],
    platform: 'onnx_onnxv1',
    inputs: model.inputs.map(t),
    outputs: model.outputs.map(t),
  };
}

/** Zero-filled inputs of batch 1 (dynamic dims = 1) for the warm-up run. */
export function warmupShape(spec: TensorSpec): number[] {
  return spec.shape.map((d) => (d < 0 ? 1 : d));
}
