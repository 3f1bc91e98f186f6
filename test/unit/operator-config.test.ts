import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, parseDuration } from '../../operator/src/config.ts';
import { ConfigError } from '../../operator/src/errors.ts';

test('defaults', () => {
  const cfg = parseConfig([], {});
  assert.notEqual(cfg, 'help');
  if (cfg === 'help') return;
  assert.equal(cfg.watchNamespace, undefined);
  assert.equal(cfg.concurrency, 4);
  assert.equal(cfg.resyncPeriodMs, 600_000);
  assert.equal(cfg.leaderElection.enabled, false);
  assert.equal(cfg.leaderElection.leaseDurationMs, 15_000);
  assert.equal(cfg.runtime.imagePullPolicy, 'IfNotPresent');
});

test('flags win over environment', () => {
  const cfg = parseConfig(['--namespace', 'flag-ns', '--concurrency=2'], {
    MODELSHIP_WATCH_NAMESPACE: 'env-ns',
    MODELSHIP_CONCURRENCY: '9',
    MODELSHIP_RUNTIME_IMAGE: 'img:1',
  });
  if (cfg === 'help') throw new Error('unexpected help');
  assert.equal(cfg.watchNamespace, 'flag-ns');
  assert.equal(cfg.concurrency, 2);
  assert.equal(cfg.runtime.image, 'img:1');
});

test('bad values are refused with a message naming the option', () => {
  assert.throws(
    () => parseConfig(['--concurrency', 'lots'], {}),
    (e: unknown) => e instanceof ConfigError && /--concurrency: "lots"/.test(e.message),
  );
  assert.throws(() => parseConfig(['--concurrency', '0'], {}), /outside 1\.\.64/);
  assert.throws(() => parseConfig(['--leader-elect', 'maybe'], {}), /--leader-elect/);
  assert.throws(() => parseConfig(['--runtime-image-pull-policy', 'Sometimes'], {}), /Always, IfNotPresent or Never/);
  assert.throws(() => parseConfig(['--no-such-flag'], {}), ConfigError);
  assert.throws(() => parseConfig(['--lease-duration', '5s', '--renew-deadline', '10s'], {}), /lease-duration > renew-deadline/);
});

test('durations', () => {
  assert.equal(parseDuration('500ms', 'x'), 500);
  assert.equal(parseDuration('1.5s', 'x'), 1500);
  assert.equal(parseDuration('10m', 'x'), 600_000);
  assert.throws(() => parseDuration('10', 'x'), /not a duration/);
});

test('--help', () => {
  assert.equal(parseConfig(['--help'], {}), 'help');
});

test('runtime shutdown timeout, memory defaults, metrics port and the operator shutdown timeout', () => {
  const cfg = parseConfig([], {});
  if (cfg === 'help') throw new Error('unexpected help');
  assert.equal(cfg.runtime.shutdownTimeoutSeconds, 25);
  assert.equal(cfg.runtime.memoryRequest, '256Mi');
  assert.equal(cfg.runtime.memoryLimit, '1Gi');
  assert.equal(cfg.runtime.metricsPort, 9090);
  assert.equal(cfg.shutdownTimeoutMs, 20_000);
  const custom = parseConfig(['--default-memory-limit', '0', '--runtime-metrics-port', '0', '--graceful-shutdown-timeout', '5s'], {
    MODELSHIP_SHUTDOWN_TIMEOUT_SECONDS: '60',
    MODELSHIP_DEFAULT_MEMORY_REQUEST: '512Mi',
  });
  if (custom === 'help') throw new Error('unexpected help');
  assert.equal(custom.runtime.shutdownTimeoutSeconds, 60);
  assert.equal(custom.runtime.memoryRequest, '512Mi');
  assert.equal(custom.runtime.memoryLimit, undefined);
  assert.equal(custom.runtime.metricsPort, 0);
  assert.equal(custom.shutdownTimeoutMs, 5000);
  assert.throws(() => parseConfig(['--default-memory-limit', 'lots'], {}), /--default-memory-limit: "lots" is not a memory quantity/);
  assert.throws(() => parseConfig(['--default-memory-limit', '1Mi'], {}), /below 16Mi/);
  assert.throws(
    () => parseConfig(['--default-memory-request', '2Gi', '--default-memory-limit', '1Gi'], {}),
    /--default-memory-request 2Gi is above --default-memory-limit 1Gi/,
  );
  assert.throws(() => parseConfig(['--runtime-metrics-port', '8080'], {}), /inference port/);
  assert.throws(() => parseConfig(['--shutdown-timeout-seconds', '0'], {}), /--shutdown-timeout-seconds: 0 is outside 1..600/);
});
