/**
 * `fetch` of s3:// models from a REAL S3-compatible server (SeaweedFS's S3 gateway, built from its
 * Go module, with an identities file so every request's SigV4 signature is checked) into which the
 * test uploaded examples/models/iris/model.onnx with the AWS SDK: the right object with a
 * read-only identity's keys from a mounted-Secret-like directory → the bytes, served with iris's
 * expected outputs; the same keys from the environment (the SDK's default chain, the pod-identity
 * path); wrong secret, unknown key, missing object, missing bucket, wrong sha256, the size limit, a
 * missing credentials file: each one clear line, nothing written, never the secret in the output.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminAndReader, startS3Server, type S3Server } from '@modelship/devcluster/s3-server';
import { assertServesIris, modelPath, spawnRuntime } from '@modelship/devcluster/runtime-process';

const IRIS = readFileSync(modelPath('iris'));
const IRIS_SHA = createHash('sha256').update(IRIS).digest('hex');
const { admin: ADMIN, reader: READER } = adminAndReader('models');
const WRONG_SECRET = 'wrong-secret-d4e7-not-in-logs';
const SECRETS = [ADMIN.secretAccessKey, READER.secretAccessKey, WRONG_SECRET];
let dir = '';
let s3: S3Server | undefined;

function credentialsDir(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [k, v] of Object.entries(files)) writeFileSync(join(d, k), `${v}\n`);
  return d;
}
let readerDir = '';

// the first run on a machine builds SeaweedFS from its Go module (minutes; see devcluster/build/seaweedfs.sh)
before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-s3-'));
    s3 = await startS3Server({ dir, identities: [ADMIN, READER], log: (line) => process.stderr.write(`s3: ${line}\n`) });
    await s3.createBucket('models');
    await s3.createBucket('private');
    await s3.putObject('models', 'iris/1/model.onnx', IRIS);
    await s3.putObject('private', 'iris/1/model.onnx', IRIS);
    readerDir = credentialsDir('reader', { AWS_ACCESS_KEY_ID: READER.accessKeyId, AWS_SECRET_ACCESS_KEY: READER.secretAccessKey });
  },
  { timeout: 1_500_000 },
);

after(async () => {
  await s3?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function runFetch(uri: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string; dest: string }> {
  const dest = join(mkdtempSync(join(dir, 'case-')), 'models', 'model.onnx');
  const p = spawnRuntime(['fetch'], {
    MODELSHIP_MODEL_URI: uri,
    MODELSHIP_MODEL_PATH: dest,
    MODELSHIP_TERMINATION_LOG: join(dir, 'termination.log'),
    MODELSHIP_FETCH_BACKOFF_MS: '10',
    MODELSHIP_S3_ENDPOINT: s3?.endpoint ?? '',
    // never the instance metadata service (169.254.169.254): the tests reach only this machine
    AWS_EC2_METADATA_DISABLED: 'true',
    ...env,
  });
  const code = await p.exited;
  const output = p.output();
  for (const s of SECRETS) assert.equal(output.includes(s), false, `a secret in the output of ${uri}:\n${output}`);
  return { code, output, dest };
}

function assertOneErrorLine(output: string, pattern: RegExp): void {
  const errors = output
    .trim()
    .split('\n')
    .filter((l) => l.includes('"level":"error"'));
  assert.equal(errors.length, 1, `exactly one error line:\n${output}`);
  assert.match(errors[0] ?? '', pattern);
}

describe('s3:// from SeaweedFS with signed requests', () => {
  test('the right object with the Secret directory: the fetched file is the uploaded model, sha256 verified, served with the expected outputs', async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx', {
      MODELSHIP_S3_CREDENTIALS_DIR: readerDir,
      MODELSHIP_MODEL_SHA256: IRIS_SHA,
    });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(readFileSync(r.dest), IRIS);
    assert.match(r.output, /"message":"model fetched".*"verified":true/);
    await assertServesIris(r.dest);
  });

  test("the SDK's default chain (keys in the environment, as IRSA/pod identity would provide them) works without a Secret", async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx', {
      AWS_ACCESS_KEY_ID: READER.accessKeyId,
      AWS_SECRET_ACCESS_KEY: READER.secretAccessKey,
    });
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(readFileSync(r.dest), IRIS);
  });

  test('a wrong secret: "access denied (check credentials)" in one line, not retried, nothing written', async () => {
    const wrong = credentialsDir('wrong', { AWS_ACCESS_KEY_ID: READER.accessKeyId, AWS_SECRET_ACCESS_KEY: WRONG_SECRET });
    const r = await runFetch('s3://models/iris/1/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: wrong });
    assert.equal(r.code, 1, r.output);
    assertOneErrorLine(r.output, /s3:\/\/models\/iris\/1\/model.onnx: access denied \(check credentials\): SignatureDoesNotMatch/);
    assert.doesNotMatch(r.output, /retrying/);
    assert.equal(existsSync(r.dest), false);
  });

  test('an unknown access key, and a key without rights on the bucket: access denied', async () => {
    const unknown = credentialsDir('unknown', { AWS_ACCESS_KEY_ID: 'NOSUCHKEY999', AWS_SECRET_ACCESS_KEY: WRONG_SECRET });
    const a = await runFetch('s3://models/iris/1/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: unknown });
    assert.equal(a.code, 1, a.output);
    assertOneErrorLine(a.output, /access denied \(check credentials\): InvalidAccessKeyId/);
    const b = await runFetch('s3://private/iris/1/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: readerDir });
    assert.equal(b.code, 1, b.output);
    assertOneErrorLine(b.output, /s3:\/\/private\/iris\/1\/model.onnx: access denied \(check credentials\): AccessDenied/);
  });

  test('a missing object and a missing bucket: "object not found", not retried', async () => {
    const a = await runFetch('s3://models/iris/9/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: readerDir });
    assert.equal(a.code, 1, a.output);
    assertOneErrorLine(a.output, /s3:\/\/models\/iris\/9\/model.onnx: object not found \(NoSuchKey\)/);
    assert.doesNotMatch(a.output, /retrying/);
    assert.equal(existsSync(a.dest), false);
    const adminDir = credentialsDir('admin', { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey });
    const b = await runFetch('s3://nosuchbucket/iris/1/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: adminDir });
    assert.equal(b.code, 1, b.output);
    assertOneErrorLine(b.output, /s3:\/\/nosuchbucket\/iris\/1\/model.onnx: object not found \(no such bucket\)/);
  });

  test('a wrong sha256: refused, nothing written', async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx', {
      MODELSHIP_S3_CREDENTIALS_DIR: readerDir,
      MODELSHIP_MODEL_SHA256: 'a'.repeat(64),
    });
    assert.equal(r.code, 1, r.output);
    assertOneErrorLine(r.output, new RegExp(`sha256 mismatch for s3://models/iris/1/model.onnx: got ${IRIS_SHA}, expected a{64}`));
    assert.equal(existsSync(r.dest), false);
  });

  test('an object larger than the size limit: refused before its download', async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx', {
      MODELSHIP_S3_CREDENTIALS_DIR: readerDir,
      MODELSHIP_FETCH_MAX_BYTES: '100',
    });
    assert.equal(r.code, 1, r.output);
    assertOneErrorLine(r.output, new RegExp(`is ${IRIS.length} bytes, larger than the limit of 100 bytes`));
    assert.equal(existsSync(r.dest), false);
  });

  test('a Secret without the keys (an empty mounted directory): names the key and the field', async () => {
    const empty = credentialsDir('empty', {});
    const r = await runFetch('s3://models/iris/1/model.onnx', { MODELSHIP_S3_CREDENTIALS_DIR: empty });
    assert.equal(r.code, 1, r.output);
    assertOneErrorLine(r.output, /cannot read the S3 credential AWS_ACCESS_KEY_ID .*ENOENT .*spec\.model\.credentialsSecretRef/);
  });

  test('no credentials at all: says how to give them, not retried', async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx');
    assert.equal(r.code, 1, r.output);
    assertOneErrorLine(r.output, /no S3 credentials: set spec.model.credentialsSecretRef or give the pod an identity/);
    assert.doesNotMatch(r.output, /retrying/);
  });

  test('a server that is down: retried (bounded), then one line with the network error', async () => {
    const r = await runFetch('s3://models/iris/1/model.onnx', {
      MODELSHIP_S3_CREDENTIALS_DIR: readerDir,
      MODELSHIP_S3_ENDPOINT: 'http://127.0.0.1:9',
      MODELSHIP_FETCH_RETRIES: '2',
    });
    assert.equal(r.code, 1, r.output);
    assert.equal((r.output.match(/retrying/g) ?? []).length, 2, r.output);
    assertOneErrorLine(r.output, /s3:\/\/models\/iris\/1\/model.onnx: ECONNREFUSED/);
  });

  test('s3://bucket without a key is refused at start, naming the variable', async () => {
    const r = await runFetch('s3://models/');
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /MODELSHIP_MODEL_URI.*names a bucket but no object key/);
  });
});
