/**
 * What `serve` does with the model file before onnxruntime sees it: refuse formats that are not
 * ONNX with a message that says what to do (a pickle would execute code if anything loaded it; this
 * runtime never does), and rewrite a skl2onnx ZipMap so a default scikit-learn classifier serves.
 */
import { open, readFile } from 'node:fs/promises';
import { ModelLoadError } from '../errors.ts';
import { rewriteZipMap, type ClassLabel } from './zipmap.ts';

export const CONVERSION_GUIDE = 'docs/converting-models.md';

/** The format a file's first bytes show, when it is one users often mistake for a servable model. */
export function foreignFormat(head: Uint8Array): string | undefined {
  const b = (i: number) => head[i];
  // pickle protocol 2-5 starts with PROTO (0x80) and the protocol number; joblib's default is pickle
  if (b(0) === 0x80 && (b(1) ?? 0) >= 2 && (b(1) ?? 0) <= 5) return 'a Python pickle (pickle/joblib dump, e.g. of a scikit-learn model)';
  if (b(0) === 0x50 && b(1) === 0x4b && b(2) === 0x03 && b(3) === 0x04)
    return 'a zip archive (e.g. a PyTorch .pt/.pth checkpoint or a Keras .keras file)';
  if (b(0) === 0x89 && b(1) === 0x48 && b(2) === 0x44 && b(3) === 0x46) return 'an HDF5 file (e.g. a Keras .h5 model)';
  if (b(0) === 0x1f && b(1) === 0x8b) return 'a gzip file (compressed: serve the .onnx itself)';
  return undefined;
}

const HEAD_BYTES = 8;
/** read size of the scan; exported for the test of a name straddling two chunks */
export const SCAN_CHUNK = 1 << 20;
const NEEDLE = Buffer.from('ZipMap');

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEAD_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Whether `needle` occurs in the file, read in chunks so a large model is never held whole. */
export async function fileMentions(path: string, needle: Buffer): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(SCAN_CHUNK + needle.length);
    let carried = 0;
    let position = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, carried, SCAN_CHUNK, position);
      if (bytesRead === 0) return false;
      const filled = carried + bytesRead;
      if (buf.subarray(0, filled).includes(needle)) return true;
      position += bytesRead;
      // keep the tail: the name may straddle two chunks
      carried = Math.min(needle.length - 1, filled);
      buf.copy(buf, 0, filled - carried, filled);
    }
  } finally {
    await fh.close();
  }
}

export interface PreparedModel {
  /** set when the file was rewritten: the workers load these bytes instead of the file */
  bytes?: Uint8Array;
  classLabels: Map<string, ClassLabel[]>;
}

export async function prepareModelFile(path: string): Promise<PreparedModel> {
  // the first bytes before the scan: a multi-GB checkpoint is refused without being read through
  const foreign = foreignFormat(await readHead(path));
  if (foreign) {
    throw new ModelLoadError(
      `${path} is ${foreign}, not an ONNX model: Modelship serves ONNX only and never loads code-executing formats; ` +
        `convert the model to ONNX first (${CONVERSION_GUIDE})`,
    );
  }
  if (!(await fileMentions(path, NEEDLE))) return { classLabels: new Map() };
  let rewrite;
  try {
    rewrite = rewriteZipMap(await readFile(path));
  } catch {
    // not a well-formed protobuf: onnxruntime will say why in its own words
    return { classLabels: new Map() };
  }
  return rewrite ? { bytes: rewrite.bytes, classLabels: rewrite.classLabels } : { classLabels: new Map() };
}
