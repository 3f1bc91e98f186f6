/**
 * `fetch` of oci:// models from a REAL registry (distribution's registry, built from its Go module)
 * into which the real ORAS CLI pushed examples/models/iris/model.onnx, once anonymous and once
 * behind htpasswd Basic auth: by tag and by digest (bytes equal, and the runtime serves the fetched
 * file with iris's expected outputs); wrong or missing credentials, a missing tag, an unknown
 * digest, an artifact without an ONNX layer, an oversized layer: each one clear line, nothing written.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { orasPush, resolveOras, startRegistry, type OciRegistry } from '@modelship/devcluster/oci-registry';
import { assertServesIris, modelPath, spawnRuntime } from '@modelship/devcluster/runtime-process';

const IRIS = readFileSync(modelPath('iris'));
const USER = { username: 'puller', password: 'pw-6f1c2a9e-not-in-logs' };
let dir = '';
let oras = '';
let open: OciRegistry | undefined;
let locked: OciRegistry | undefined;
let irisDigest = '';
let lockedDigest = '';
let authFile = '';

// the first run on a machine builds the registry from its Go module (439 s on a loaded 2-core machine)
before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'modelship-oci-'));
    const log = (line: string) => process.stderr.write(`oci: ${line}\n`);
    [oras, open, locked] = await Promise.all([resolveOras(log), startRegistry({ dir, log }), startRegistry({ dir, log, user: USER })]);
    const files = join(dir, 'files');
    rmSync(files, { recursive: true, force: true });
    mkdirSync(files);
    copyFileSync(modelPath('iris'), join(files, 'model.onnx'));
    writeFileSync(join(files, 'README.txt'), 'not a model\n');
    const onnx = [{ path: join(files, 'model.onnx'), mediaType: 'application/vnd.onnx' }];
    irisDigest = await orasPush({ oras, dir, reference: `${open.host}/models/iris:v1`, files: onnx });
    await orasPush({
      oras,
      dir,
      reference: `${open.host}/models/readme:v1`,
      files: [{ path: join(files, 'README.txt'), mediaType: 'text/plain' }],
    });
    lockedDigest = await orasPush({ oras, dir, reference: `${locked.host}/team/iris:v1`, files: onnx, user: USER });
    authFile = join(dir, 'config.json');
    writeFileSync(
      authFile,
      JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') } } }),
    );
  },
  { timeout: 1_200_000 },
);

after(async () => {
  await Promise.all([open?.stop(), locked?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

async function runFetch(uri: string, env: Record<string, string> = {}): Promise<{ code: number | null; output: string; dest: string }> {
  const dest = join(mkdtempSync(join(dir, 'case-')), 'models', 'model.onnx');
  const p = spawnRuntime(['fetch'], {
    MODELSHIP_MODEL_URI: uri,
    MODELSHIP_MODEL_PATH: dest,
    MODELSHIP_TERMINATION_LOG: join(dir, 'termination.log'),
    MODELSHIP_FETCH_BACKOFF_MS: '10',
    MODELSHIP_OCI_PLAIN_HTTP: 'true',
    ...env,
  });
  const code = await p.exited;
  return { code, output: p.output(), dest };
}

function assertOneErrorLine(output: string, pattern: RegExp): void {
  const errors = output
    .trim()
    .split('\n')
    .filter((l) => l.includes('"level":"error"'));
  assert.equal(errors.length, 1, `exactly one error line:\n${output}`);
  assert.match(errors[0] ?? '', pattern);
}

describe('anonymous registry', () => {
  test('by tag: the fetched file is the pushed model, and the runtime serves it with the expected outputs', async () => {
    const r = await runFetch(`oci://${open?.host}/models/iris:v1`);
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(readFileSync(r.dest), IRIS);
    await assertServesIris(r.dest);
  });

  test('by digest (and tag@digest): the manifest pinned by oras push is pulled and verified', async () => {
    const a = await runFetch(`oci://${open?.host}/models/iris@${irisDigest}`);
    assert.equal(a.code, 0, a.output);
    assert.deepEqual(readFileSync(a.dest), IRIS);
    const b = await runFetch(`oci://${open?.host}/models/iris:v1@${irisDigest}`);
    assert.equal(b.code, 0, b.output);
    assert.deepEqual(readFileSync(b.dest), IRIS);
  });

  test('a missing tag fails without retrying, naming the tag', async () => {
    const r = await runFetch(`oci://${open?.host}/models/iris:nope`);
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, /cannot pull oci:\/\/.*\/models\/iris:nope: tag \\"nope\\" not found \(HTTP 404\)/);
    assert.doesNotMatch(r.output, /retrying/);
    assert.equal(existsSync(r.dest), false);
  });

  test('a digest the registry does not have is refused', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const r = await runFetch(`oci://${open?.host}/models/iris@${wrong}`);
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, new RegExp(`manifest ${wrong} not found \\(HTTP 404\\)`));
    assert.equal(existsSync(r.dest), false);
  });

  test('an artifact whose layer is not ONNX is refused, listing its layers', async () => {
    const r = await runFetch(`oci://${open?.host}/models/readme:v1`);
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, /the artifact has no ONNX layer .*its layers: README.txt \(text\/plain\)/);
    assert.equal(existsSync(r.dest), false);
  });

  test('a layer larger than the size limit is refused before its download', async () => {
    const r = await runFetch(`oci://${open?.host}/models/iris:v1`, { MODELSHIP_FETCH_MAX_BYTES: '100' });
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, new RegExp(`is ${IRIS.length} bytes, larger than the limit of 100 bytes`));
    assert.equal(existsSync(r.dest), false);
  });

  test('an invalid reference is refused at startup, naming the variable', async () => {
    const r = await runFetch(`oci://${open?.host}/Models/Iris:v1`);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /MODELSHIP_MODEL_URI.*is not an OCI reference/);
  });
});

describe('registry with htpasswd Basic auth', () => {
  test('with the right credentials from a docker config file: pulled by tag and by digest', async () => {
    const a = await runFetch(`oci://${locked?.host}/team/iris:v1`, { MODELSHIP_REGISTRY_AUTH_FILE: authFile });
    assert.equal(a.code, 0, a.output);
    assert.deepEqual(readFileSync(a.dest), IRIS);
    const b = await runFetch(`oci://${locked?.host}/team/iris@${lockedDigest}`, { MODELSHIP_REGISTRY_AUTH_FILE: authFile });
    assert.equal(b.code, 0, b.output);
    assert.deepEqual(readFileSync(b.dest), IRIS);
    assert.doesNotMatch(a.output + b.output, new RegExp(USER.password), 'the password is never logged');
  });

  test('wrong credentials: refused in one line, not retried, the password not logged', async () => {
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ auths: { [`http://${locked?.host}`]: { username: USER.username, password: 'wrong-pw-3b7d' } } }));
    const r = await runFetch(`oci://${locked?.host}/team/iris:v1`, { MODELSHIP_REGISTRY_AUTH_FILE: wrong });
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, /the registry refused the credentials \(HTTP 401\)/);
    assert.doesNotMatch(r.output, /wrong-pw-3b7d|retrying/);
    assert.equal(existsSync(r.dest), false);
  });

  test('no credentials for the registry: says so', async () => {
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ auths: { 'elsewhere.example': { auth: Buffer.from('a:b').toString('base64') } } }));
    const r = await runFetch(`oci://${locked?.host}/team/iris:v1`, { MODELSHIP_REGISTRY_AUTH_FILE: other });
    assert.equal(r.code, 1);
    assertOneErrorLine(r.output, /the registry requires credentials \(HTTP 401\) and none were given for it/);
  });

  test('a credentials file that is missing or not JSON: one clear line', async () => {
    const a = await runFetch(`oci://${locked?.host}/team/iris:v1`, { MODELSHIP_REGISTRY_AUTH_FILE: join(dir, 'absent.json') });
    assert.equal(a.code, 1);
    assertOneErrorLine(a.output, /cannot read the registry credentials file .*absent.json: ENOENT/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, 'user:pass');
    const b = await runFetch(`oci://${locked?.host}/team/iris:v1`, { MODELSHIP_REGISTRY_AUTH_FILE: bad });
    assert.equal(b.code, 1);
    assertOneErrorLine(b.output, /is not JSON \(expected a docker config.json\)/);
    assert.doesNotMatch(b.output, /user:pass/);
  });
});
