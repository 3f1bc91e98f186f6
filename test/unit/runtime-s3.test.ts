/**
 * The pure parts of s3:// fetches: URI parsing (and that the CRD's CEL pattern accepts exactly
 * what the parser accepts), the S3 error → one-line mapping (never the secret), the credentials
 * directory of a mounted Secret, the fetch configuration (endpoint, region, path style), and the
 * operator's rendering of spec.model.s3 and credentialsSecretRef into the fetch container only.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { S3ServiceException } from '@aws-sdk/client-s3';
import fc from 'fast-check';
import { parseS3Uri, S3_URI_PATTERN } from '../../contract/s3-uri.ts';
import { parseFetch } from '../../runtime/src/config.ts';
import { describeS3Error, readCredentialsDir } from '../../runtime/src/fetch/s3.ts';
import { storageFields, withStorageOf } from '../../operator/src/rollout/model-storage.ts';
import { parseExperiment } from '../../operator/src/reconcile/experiment-settings.ts';
import { renderPodTemplate } from '../../operator/src/render/pod-template.ts';
import { RUNTIME_DEFAULTS, modelDeployment } from './operator-fixtures.ts';

const celPattern = new RegExp(S3_URI_PATTERN);
const SHOWN = 's3://models/iris/1/model.onnx';

describe('parseS3Uri', () => {
  test('bucket and key, the key taken literally', () => {
    assert.deepEqual(parseS3Uri('s3://models/iris/1/model.onnx'), { bucket: 'models', key: 'iris/1/model.onnx' });
    assert.deepEqual(parseS3Uri('s3://my.bucket-01/a b%20c?x=1'), { bucket: 'my.bucket-01', key: 'a b%20c?x=1' });
    assert.deepEqual(parseS3Uri('s3://abc/k'), { bucket: 'abc', key: 'k' });
  });

  test('refused, each with the reason: no key, a folder, a bad bucket, another scheme, a key past 1024 bytes', () => {
    const err = (u: string) => {
      const r = parseS3Uri(u);
      assert.ok('error' in r, u);
      return r.error;
    };
    assert.match(err('s3://bucket'), /names a bucket but no object key.*expected s3:\/\/<bucket>\/<key>/);
    assert.match(err('s3://bucket/'), /names a bucket but no object key/);
    assert.match(err('s3://bucket/dir/'), /the key ends in "\/" \(a folder, not an object\)/);
    assert.match(err('s3://Bucket/k'), /bucket name must be 3-63 lowercase/);
    assert.match(err('s3://ab/k'), /bucket name must be 3-63/);
    assert.match(err(`s3://${'a'.repeat(64)}/k`), /bucket name must be 3-63/);
    assert.match(err('s3://-ab/k'), /bucket name/);
    assert.match(err('https://bucket/k'), /starts with s3:\/\//);
    assert.match(err(`s3://bucket/${'k'.repeat(1025)}`), /longer than 1024 bytes/);
  });

  test('property: the CRD pattern accepts exactly the URIs the parser accepts (up to the key length limit)', () => {
    const bucketChar = fc.constantFrom(...'abcz09.-'.split(''));
    const keyChar = fc.constantFrom(...'ab/ .-_%?Z'.split(''));
    fc.assert(
      fc.property(
        fc.string({ unit: bucketChar, minLength: 0, maxLength: 66 }),
        fc.boolean(),
        fc.string({ unit: keyChar, minLength: 0, maxLength: 12 }),
        (bucket, slash, key) => {
          const uri = `s3://${bucket}${slash ? '/' : ''}${key}`;
          assert.equal(celPattern.test(uri), !('error' in parseS3Uri(uri)), uri);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('describeS3Error', () => {
  const service = (name: string, status: number) =>
    new S3ServiceException({
      name,
      $fault: status >= 500 ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
      message: `msg of ${name}`,
    });

  test('NoSuchKey / NoSuchBucket / a bare 404: "object not found", not retried', () => {
    for (const [e, tail] of [
      [service('NoSuchKey', 404), 'NoSuchKey'],
      [service('NoSuchBucket', 404), 'no such bucket'],
      [service('NotFound', 404), 'NotFound'],
      [service('UnknownError', 404), 'UnknownError'],
    ] as const) {
      const fe = describeS3Error(e, SHOWN);
      assert.equal(fe.message, `${SHOWN}: object not found (${tail})`);
      assert.equal(fe.retryable, false);
    }
  });

  test('AccessDenied / InvalidAccessKeyId / SignatureDoesNotMatch / a bare 403: "access denied (check credentials)", not retried', () => {
    for (const name of ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) {
      const fe = describeS3Error(service(name, 403), SHOWN);
      assert.equal(fe.message, `${SHOWN}: access denied (check credentials): ${name}`);
      assert.equal(fe.retryable, false);
    }
    assert.match(describeS3Error(service('Weird', 403), SHOWN).message, /access denied \(check credentials\): Weird/);
  });

  test("5xx, SlowDown and 429 are retried; the service's message text is never quoted", () => {
    assert.equal(describeS3Error(service('InternalError', 500), SHOWN).retryable, true);
    assert.equal(describeS3Error(service('SlowDown', 503), SHOWN).retryable, true);
    assert.equal(describeS3Error(service('TooManyRequests', 429), SHOWN).retryable, true);
    assert.equal(describeS3Error(service('InvalidRequest', 400), SHOWN).retryable, false);
    assert.doesNotMatch(describeS3Error(service('InvalidRequest', 400), SHOWN).message, /msg of/);
    assert.match(describeS3Error(service('PermanentRedirect', 301), SHOWN).message, /another region.*set the region/);
  });

  test('no credentials anywhere: names the two ways to give them', () => {
    const e = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const fe = describeS3Error(e, SHOWN);
    assert.match(fe.message, /no S3 credentials: set spec.model.credentialsSecretRef or give the pod an identity/);
    assert.equal(fe.retryable, false);
  });

  test('a network error is retried with its code, and a secret in an unknown error text is redacted', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    assert.deepEqual(
      [describeS3Error(refused, SHOWN).message, describeS3Error(refused, SHOWN).retryable],
      [`${SHOWN}: ECONNREFUSED`, true],
    );
    const leaky = new Error('bad header x-secret: s3cr3t-value-123');
    const fe = describeS3Error(leaky, SHOWN, ['s3cr3t-value-123']);
    assert.equal(fe.message.includes('s3cr3t-value-123'), false, fe.message);
    assert.match(fe.message, /<redacted>/);
  });
});

describe('readCredentialsDir', () => {
  test('reads the Secret keys as files (trailing newline trimmed), the session token optional', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'modelship-s3-creds-'));
    try {
      writeFileSync(join(dir, 'AWS_ACCESS_KEY_ID'), 'AKID\n');
      writeFileSync(join(dir, 'AWS_SECRET_ACCESS_KEY'), 'SECRET-1\n');
      assert.deepEqual(await readCredentialsDir(dir), { accessKeyId: 'AKID', secretAccessKey: 'SECRET-1' });
      writeFileSync(join(dir, 'AWS_SESSION_TOKEN'), 'TOKEN');
      assert.deepEqual(await readCredentialsDir(dir), { accessKeyId: 'AKID', secretAccessKey: 'SECRET-1', sessionToken: 'TOKEN' });
      rmSync(join(dir, 'AWS_SECRET_ACCESS_KEY'));
      await assert.rejects(readCredentialsDir(dir), (e: Error) => {
        assert.match(
          e.message,
          /cannot read the S3 credential AWS_SECRET_ACCESS_KEY .*ENOENT .*spec\.model\.credentialsSecretRef a Secret with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
        );
        assert.equal(e.message.includes('AKID'), false);
        return true;
      });
      writeFileSync(join(dir, 'AWS_SECRET_ACCESS_KEY'), '\n');
      await assert.rejects(readCredentialsDir(dir), /AWS_SECRET_ACCESS_KEY .* is empty/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fetch configuration for s3://', () => {
  const base = { MODELSHIP_MODEL_PATH: '/tmp/m.onnx' };
  test('endpoint, region, path style and the credentials directory; path style unset = decided by the endpoint', () => {
    const c = parseFetch([], {
      ...base,
      MODELSHIP_MODEL_URI: SHOWN,
      MODELSHIP_S3_ENDPOINT: 'http://10.0.0.1:8333',
      MODELSHIP_S3_REGION: 'eu-west-1',
      MODELSHIP_S3_FORCE_PATH_STYLE: 'false',
      MODELSHIP_S3_CREDENTIALS_DIR: '/var/run/creds',
    });
    assert.deepEqual(c.s3, {
      endpoint: 'http://10.0.0.1:8333',
      region: 'eu-west-1',
      forcePathStyle: false,
      credentialsDir: '/var/run/creds',
    });
    const d = parseFetch([], { ...base, MODELSHIP_MODEL_URI: SHOWN, AWS_REGION: 'us-west-2' });
    assert.deepEqual(d.s3, { endpoint: undefined, region: 'us-west-2', forcePathStyle: undefined, credentialsDir: undefined });
  });

  test('bad values refused at start, naming the variable', () => {
    const bad = (env: Record<string, string>, re: RegExp) =>
      assert.throws(() => parseFetch([], { ...base, MODELSHIP_MODEL_URI: SHOWN, ...env }), re);
    bad({ MODELSHIP_MODEL_URI: 's3://bucket' }, /MODELSHIP_MODEL_URI.*names a bucket but no object key/);
    bad({ MODELSHIP_MODEL_URI: 's3://bucket/' }, /MODELSHIP_MODEL_URI.*no object key/);
    bad({ MODELSHIP_S3_ENDPOINT: 'ftp://x' }, /MODELSHIP_S3_ENDPOINT.*must be http\(s\):\/\/<host>\[:<port>\]/);
    bad({ MODELSHIP_S3_ENDPOINT: 'http://x/path' }, /MODELSHIP_S3_ENDPOINT/);
    bad({ MODELSHIP_S3_ENDPOINT: 'http://user:pw-7c1@x' }, /MODELSHIP_S3_ENDPOINT.*not shown: it carries credentials/);
    assert.throws(
      () => parseFetch([], { ...base, MODELSHIP_MODEL_URI: SHOWN, MODELSHIP_S3_ENDPOINT: 'http://user:pw-7c1@x' }),
      (e: Error) => !e.message.includes('pw-7c1'),
    );
    bad({ MODELSHIP_S3_FORCE_PATH_STYLE: 'yes' }, /MODELSHIP_S3_FORCE_PATH_STYLE.*true or false/);
    bad({ MODELSHIP_S3_REGION: 'EU West' }, /MODELSHIP_S3_REGION.*region name/);
  });
});

describe('operator: spec.model.s3 and credentialsSecretRef for s3://', () => {
  const S3 = 's3://models/iris/3/model.onnx';
  test('endpoint/region/path style and the credentials directory in the fetch env; the Secret mounted into fetch only', () => {
    const md = modelDeployment({
      model: {
        version: '3',
        uri: S3,
        format: 'onnx',
        credentialsSecretRef: { name: 's3cred' },
        s3: { endpoint: 'http://seaweed.storage:8333', region: 'eu-west-1', forcePathStyle: true },
      },
    });
    const spec = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS).spec!;
    const fetch = spec.initContainers?.[0];
    const serve = spec.containers[0];
    const env = Object.fromEntries((fetch?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env['MODELSHIP_MODEL_URI'], S3);
    assert.equal(env['MODELSHIP_S3_ENDPOINT'], 'http://seaweed.storage:8333');
    assert.equal(env['MODELSHIP_S3_REGION'], 'eu-west-1');
    assert.equal(env['MODELSHIP_S3_FORCE_PATH_STYLE'], 'true');
    assert.equal(env['MODELSHIP_S3_CREDENTIALS_DIR'], '/var/run/modelship/model-credentials');
    assert.equal(env['MODELSHIP_REGISTRY_AUTH_FILE'], undefined, 'the docker config is for oci:// only');
    assert.deepEqual(
      spec.volumes?.find((v) => v.secret),
      { name: 'model-credentials', secret: { secretName: 's3cred', defaultMode: 0o440, optional: true } },
    );
    assert.equal(
      serve?.volumeMounts?.some((m) => m.name === 'model-credentials'),
      false,
    );
    assert.equal(JSON.stringify(serve?.env ?? []).includes('S3'), false, 'the serving container gets no s3 setting');
    for (const c of [fetch, serve])
      assert.equal(
        c?.env?.some((e) => e.valueFrom?.secretKeyRef),
        false,
        'no env from a Secret',
      );
  });

  test('without a Secret: no volume, no credentials directory (the pod identity is used); s3 settings on a non-s3 uri are ignored', () => {
    const md = modelDeployment({ model: { version: '3', uri: S3, format: 'onnx', s3: { region: 'eu-west-1' } } });
    const spec = renderPodTemplate(md, md.spec.model, RUNTIME_DEFAULTS).spec!;
    const names = (spec.initContainers?.[0]?.env ?? []).map((e) => e.name);
    assert.equal(names.includes('MODELSHIP_S3_CREDENTIALS_DIR'), false);
    assert.equal(names.includes('MODELSHIP_S3_ENDPOINT'), false);
    assert.equal(names.includes('MODELSHIP_S3_REGION'), true);
    assert.equal(spec.volumes?.some((v) => v.name === 'model-credentials') ?? false, false);
    const http = modelDeployment({ model: { version: '3', uri: 'https://x.example/m.onnx', format: 'onnx', s3: { region: 'eu-west-1' } } });
    const httpNames = (renderPodTemplate(http, http.spec.model, RUNTIME_DEFAULTS).spec?.initContainers?.[0]?.env ?? []).map((e) => e.name);
    assert.equal(
      httpNames.some((n) => n.startsWith('MODELSHIP_S3_')),
      false,
    );
  });

  test('status.history records s3, and a rollback renders the old version with its own s3 settings', () => {
    const s3 = { endpoint: 'http://old.store:9000', region: 'us-east-1' };
    const recorded = storageFields({ credentialsSecretRef: { name: 'c' }, s3 });
    assert.deepEqual(recorded, { credentialsSecretRef: { name: 'c' }, s3 });
    const desired = {
      version: '4',
      uri: 's3://models/iris/4/model.onnx',
      format: 'onnx' as const,
      s3: { endpoint: 'http://new.store:9000' },
    };
    assert.deepEqual(withStorageOf(desired, { s3 }).s3, s3);
    assert.equal(withStorageOf(desired, {}).s3, undefined, 'an entry without s3 has none');
  });

  test("the experiment variant uses its own s3 settings, not the main model's", () => {
    const md = modelDeployment({
      model: { version: '1', uri: S3, format: 'onnx', s3: { endpoint: 'http://main:1' } },
      experiment: { model: { version: '2', uri: 's3://models/iris/2/model.onnx', s3: { endpoint: 'http://exp:2' } }, weight: 10 },
    });
    const e = parseExperiment(md, RUNTIME_DEFAULTS);
    assert.deepEqual(e?.model.s3, { endpoint: 'http://exp:2' });
  });
});

describe('the CRD', () => {
  test("spec.model.uri and spec.experiment.model.uri check s3:// with the parser's own pattern, and the chart's copy is the same", () => {
    const crd = readFileSync(join(import.meta.dirname, '../../crds/modelship.dev_modeldeployments.yaml'), 'utf8');
    const rule = `self.matches(r'${S3_URI_PATTERN}')`;
    assert.equal(crd.split(rule).length - 1, 2, 'the s3:// rule on both uri fields');
    assert.equal(readFileSync(join(import.meta.dirname, '../../charts/modelship/crds/modelship.dev_modeldeployments.yaml'), 'utf8'), crd);
  });
});
