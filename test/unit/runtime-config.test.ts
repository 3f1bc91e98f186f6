import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, parseFetch, parseServe } from '../../runtime/src/config.ts';
import { ConfigError } from '../../runtime/src/errors.ts';

test('serve: the operator contract (env only) with defaults', () => {
  const c = parseServe([], {
    MODELSHIP_MODEL_PATH: '/models/model.onnx',
    MODELSHIP_MODEL_NAME: 'iris',
    MODELSHIP_MODEL_VERSION: '3',
    MODELSHIP_PORT: '8080',
    MODELSHIP_MAX_BATCH_SIZE: '16',
    MODELSHIP_MAX_BATCH_DELAY_US: '500',
    MODELSHIP_API_KEY: 'k',
    MODELSHIP_DRAIN_DELAY_SECONDS: '7',
  });
  assert.equal(c.modelPath, '/models/model.onnx');
  assert.equal(c.modelName, 'iris');
  assert.equal(c.modelVersion, '3');
  assert.equal(c.port, 8080);
  assert.equal(c.maxBatchSize, 16);
  assert.equal(c.maxBatchDelayUs, 500);
  assert.equal(c.apiKey, 'k');
  assert.equal(c.drainDelaySeconds, 7);
  assert.equal(c.workers, 0);
  assert.equal(c.intraOpThreads, 0);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.modelSha256, undefined);
});

test('a flag wins over its environment variable; empty env = default', () => {
  const c = parseServe(['--model-path', '/a.onnx', '--port', '9000'], {
    MODELSHIP_MODEL_PATH: '/b.onnx',
    MODELSHIP_PORT: '1',
    MODELSHIP_MODEL_NAME: '',
  });
  assert.equal(c.modelPath, '/a.onnx');
  assert.equal(c.port, 9000);
  assert.equal(c.modelName, 'model');
});

test('bad values are ConfigErrors naming the flag and the variable', () => {
  assert.throws(() => parseServe([], {}), /--model-path \(or MODELSHIP_MODEL_PATH\) is required/);
  assert.throws(
    () => parseServe(['--model-path', 'x', '--port', 'abc'], {}),
    /--port \(MODELSHIP_PORT\) must be a non-negative integer, got "abc"/,
  );
  assert.throws(() => parseServe(['--model-path', 'x', '--port', '70000'], {}), /must be <= 65535/);
  assert.throws(() => parseServe(['--model-path', 'x', '--max-batch-size', '0'], {}), /--max-batch-size .* must be >= 1/);
  assert.throws(() => parseServe(['--model-path', 'x', '--nope', '1'], {}), ConfigError);
  assert.throws(() => parseServe(['--model-path', 'x', '--model-sha256', 'abc'], {}), /64 hex characters/);
  assert.throws(() => parseConfig(['run'], {}), /unknown command "run"/);
});

test('sha256 is normalised to lower case', () => {
  const c = parseServe(['--model-path', 'x', '--model-sha256', 'A'.repeat(64)], {});
  assert.equal(c.modelSha256, 'a'.repeat(64));
});

test('fetch: env contract, scheme allow-list', () => {
  const c = parseFetch([], {
    MODELSHIP_MODEL_URI: 'https://h/m.onnx',
    MODELSHIP_MODEL_PATH: '/models/model.onnx',
    MODELSHIP_MODEL_SHA256: 'f'.repeat(64),
  });
  assert.equal(c.modelUri, 'https://h/m.onnx');
  assert.equal(c.modelPath, '/models/model.onnx');
  assert.equal(c.modelSha256, 'f'.repeat(64));
  assert.equal(c.retries, 3);
  assert.throws(
    () => parseFetch([], { MODELSHIP_MODEL_URI: 'gs://b/k', MODELSHIP_MODEL_PATH: '/m' }),
    /must start with http:\/\/, https:\/\/, file:\/\/, pvc:\/\/, oci:\/\/ or s3:\/\//,
  );
  assert.throws(() => parseFetch([], { MODELSHIP_MODEL_PATH: '/m' }), /--model-uri \(or MODELSHIP_MODEL_URI\) is required/);
  assert.equal(parseConfig(['fetch', '--model-uri', 'pvc://claim/a/b.onnx', '--model-path', '/m'], {}).command, 'fetch');
});

test("API key: unset = off; set but empty or blank = ConfigError; surrounding whitespace (a file's newline) trimmed", () => {
  const base = { MODELSHIP_MODEL_PATH: '/m.onnx' };
  assert.equal(parseServe([], base).apiKey, undefined);
  for (const blank of ['', ' ', '\n', '\r\n', '\t \n']) {
    assert.throws(
      () => parseServe([], { ...base, MODELSHIP_API_KEY: blank }),
      /MODELSHIP_API_KEY\) is set but empty/,
      JSON.stringify(blank),
    );
    assert.throws(() => parseServe(['--api-key', blank], base), ConfigError);
  }
  assert.equal(parseServe([], { ...base, MODELSHIP_API_KEY: 'k3y\n' }).apiKey, 'k3y');
  assert.equal(parseServe([], { ...base, MODELSHIP_API_KEY: 'k3y\r\n' }).apiKey, 'k3y');
  assert.equal(parseServe([], { ...base, MODELSHIP_API_KEY: '  k3y  ' }).apiKey, 'k3y');
  assert.throws(() => parseServe([], { ...base, MODELSHIP_API_KEY: 'a\nb' }), /control characters/);
  // the message never carries the key
  try {
    parseServe([], { ...base, MODELSHIP_API_KEY: 'sec\x01ret' });
  } catch (e) {
    assert.doesNotMatch((e as Error).message, /sec|ret/);
  }
});

test('resource flags: defaults, env names, bounds', () => {
  const d = parseServe([], { MODELSHIP_MODEL_PATH: '/m.onnx' });
  assert.equal(d.maxInflightBytes, 0);
  assert.equal(d.maxConnections, 1024);
  assert.equal(d.headersTimeoutMs, 10_000);
  assert.equal(d.requestReceiveTimeoutMs, 60_000);
  assert.equal(d.bodyIdleTimeoutMs, 10_000);
  assert.equal(d.runTimeoutMs, 0);
  assert.equal(d.metricsPort, undefined);
  const c = parseServe([], {
    MODELSHIP_MODEL_PATH: '/m.onnx',
    MODELSHIP_MAX_INFLIGHT_BYTES: '268435456',
    MODELSHIP_MAX_CONNECTIONS: '50',
    MODELSHIP_RUN_TIMEOUT_MS: '5000',
    MODELSHIP_METRICS_PORT: '9090',
    MODELSHIP_HEADERS_TIMEOUT_MS: '2000',
    MODELSHIP_REQUEST_RECEIVE_TIMEOUT_MS: '20000',
    MODELSHIP_BODY_IDLE_TIMEOUT_MS: '3000',
  });
  assert.equal(c.maxInflightBytes, 268_435_456);
  assert.equal(c.maxConnections, 50);
  assert.equal(c.runTimeoutMs, 5000);
  assert.equal(c.metricsPort, 9090);
  assert.equal(c.headersTimeoutMs, 2000);
  assert.equal(c.requestReceiveTimeoutMs, 20_000);
  assert.equal(c.bodyIdleTimeoutMs, 3000);
  assert.equal(parseServe([], { MODELSHIP_MODEL_PATH: '/m.onnx', MODELSHIP_METRICS_PORT: '' }).metricsPort, undefined);
  assert.throws(
    () => parseServe(['--model-path', 'x', '--metrics-port', '70000'], {}),
    /--metrics-port \(MODELSHIP_METRICS_PORT\) must be <= 65535/,
  );
  assert.throws(() => parseServe(['--model-path', 'x', '--max-connections', '0'], {}), /--max-connections .* must be >= 1/);
  assert.throws(
    () => parseServe(['--model-path', 'x', '--metrics-port', '8080'], {}),
    /--metrics-port \(MODELSHIP_METRICS_PORT\) must differ from --port/,
  );
  assert.throws(
    () => parseServe(['--model-path', 'x', '--headers-timeout-ms', '5000', '--request-receive-timeout-ms', '1000'], {}),
    /--headers-timeout-ms must not be longer than --request-receive-timeout-ms/,
  );
});
