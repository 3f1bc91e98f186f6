/**
 * scikit-learn classifiers converted with skl2onnx's defaults end in a ZipMap node: it turns the
 * probability tensor [N, classes] into a sequence of {class label: probability} maps, a type
 * onnxruntime-node cannot hand back. Served as they come, such models would fail to load. This
 * rewrite removes every ZipMap that produces a graph output and gives that output the ZipMap's
 * input tensor under the output's own name (FP32 [N, classes]); the class labels, one per column,
 * are returned so the model's metadata can carry them. Everything else in the file is kept as it
 * was, byte for byte. Pure: bytes in, bytes out.
 */
import { bytesField, decodeFields, encodeFields, int64s, text, varintField, WIRE, type Field } from './protobuf-wire.ts';

// field numbers of onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto)
const MODEL = { graph: 7 } as const;
const GRAPH = { node: 1, output: 12 } as const;
const NODE = { input: 1, output: 2, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, ints: 8, strings: 9 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;
const FLOAT = 1;

export type ClassLabel = string | number;

export interface ZipMapRewrite {
  bytes: Uint8Array;
  /** per rewritten output: the class label of each probability column */
  classLabels: Map<string, ClassLabel[]>;
}

function labelsOf(node: Field[]): ClassLabel[] {
  for (const f of node) {
    if (f.num !== NODE.attribute) continue;
    const attr = decodeFields(f.value as Uint8Array);
    const name = text(attr.find((a) => a.num === ATTRIBUTE.name));
    if (name === 'classlabels_strings') return attr.filter((a) => a.num === ATTRIBUTE.strings).map((a) => text(a) ?? '');
    if (name === 'classlabels_int64s') {
      return int64s(attr, ATTRIBUTE.ints).map((v) =>
        v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString(),
      );
    }
  }
  return [];
}

/** ValueInfoProto of a float tensor [N, columns] named `name`. */
function floatMatrixInfo(name: string, columns: number): Uint8Array {
  const dims = [
    encodeFields([bytesField(DIM.param, 'N')]),
    encodeFields(columns > 0 ? [varintField(DIM.value, columns)] : [bytesField(DIM.param, 'classes')]),
  ];
  const shape = encodeFields(dims.map((d) => bytesField(SHAPE.dim, d)));
  const tensorType = encodeFields([varintField(TENSOR_TYPE.elemType, FLOAT), bytesField(TENSOR_TYPE.shape, shape)]);
  const type = encodeFields([bytesField(TYPE.tensorType, tensorType)]);
  return encodeFields([bytesField(VALUE_INFO.name, name), bytesField(VALUE_INFO.type, type)]);
}

/** Rename a node's inputs/outputs per `renames` (only the fields that change are re-encoded). */
function renamed(node: Field[], renames: Map<string, string>): Field[] | undefined {
  let changed = false;
  const out = node.map((f) => {
    if (f.num !== NODE.input && f.num !== NODE.output) return f;
    const to = renames.get(text(f) ?? '');
    if (to === undefined) return f;
    changed = true;
    return bytesField(f.num, to);
  });
  return changed ? out : undefined;
}

/**
 * The model with its output-producing ZipMaps removed, or undefined when it has none (or one this
 * rewrite does not handle safely: its input is also a graph output, or it feeds another node).
 */
export function rewriteZipMap(model: Uint8Array): ZipMapRewrite | undefined {
  const modelFields = decodeFields(model);
  const graphIndex = modelFields.findIndex((f) => f.num === MODEL.graph && f.wire === WIRE.bytes);
  if (graphIndex < 0) return undefined;
  const graph = decodeFields(modelFields[graphIndex]!.value as Uint8Array);
  const outputNames = new Set(
    graph
      .filter((f) => f.num === GRAPH.output)
      .map((f) => text(decodeFields(f.value as Uint8Array).find((v) => v.num === VALUE_INFO.name)) ?? ''),
  );
  const nodes = graph.map((f) => (f.num === GRAPH.node ? decodeFields(f.value as Uint8Array) : undefined));
  const consumers = new Map<string, number>();
  for (const n of nodes)
    for (const f of n ?? []) if (f.num === NODE.input) consumers.set(text(f) ?? '', (consumers.get(text(f) ?? '') ?? 0) + 1);

  const drop = new Set<number>();
  const renames = new Map<string, string>(); // ZipMap input tensor -> the graph output's name
  const classLabels = new Map<string, ClassLabel[]>();
  nodes.forEach((n, i) => {
    if (!n || text(n.find((f) => f.num === NODE.opType)) !== 'ZipMap') return;
    const input = text(n.find((f) => f.num === NODE.input));
    const output = text(n.find((f) => f.num === NODE.output));
    if (input === undefined || output === undefined || !outputNames.has(output) || outputNames.has(input)) return;
    if ((consumers.get(input) ?? 0) !== 1 || (consumers.get(output) ?? 0) !== 0) return;
    drop.add(i);
    renames.set(input, output);
    classLabels.set(output, labelsOf(n));
  });
  if (drop.size === 0) return undefined;

  const newGraph: Field[] = [];
  graph.forEach((f, i) => {
    if (drop.has(i)) return;
    const node = nodes[i];
    if (node) {
      const r = renamed(node, renames);
      newGraph.push(r ? bytesField(GRAPH.node, encodeFields(r)) : f);
      return;
    }
    if (f.num === GRAPH.output) {
      const name = text(decodeFields(f.value as Uint8Array).find((v) => v.num === VALUE_INFO.name)) ?? '';
      const labels = classLabels.get(name);
      if (labels) {
        newGraph.push(bytesField(GRAPH.output, floatMatrixInfo(name, labels.length)));
        return;
      }
    }
    newGraph.push(f);
  });
  const newModel = modelFields.map((f, i) => (i === graphIndex ? bytesField(MODEL.graph, encodeFields(newGraph)) : f));
  return { bytes: encodeFields(newModel), classLabels };
}
