import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommandLine, parseDuration } from '../../kubectl-plugin/src/args.ts';
import { UsageError } from '../../kubectl-plugin/src/errors.ts';

test('kubeconfig flags as kubectl spells them, before or after the command', () => {
  const inv = parseCommandLine([
    'status',
    'iris',
    '-n',
    'ml',
    '--context=prod',
    '--kubeconfig',
    '/k',
    '--as',
    'system:serviceaccount:ml:ci',
  ]);
  assert.deepEqual(inv.global, { kubeconfig: '/k', context: 'prod', namespace: 'ml', as: 'system:serviceaccount:ml:ci' });
  assert.deepEqual(inv.command, { kind: 'status', name: 'iris', watch: false, output: 'text', intervalMs: 2000 });
  assert.equal(parseCommandLine(['--namespace', 'x', 'history', 'iris']).global.namespace, 'x');
});

test('each command parses into its typed form', () => {
  assert.deepEqual(parseCommandLine(['status', 'iris', '-w', '--timeout', '5m']).command, {
    kind: 'status',
    name: 'iris',
    watch: true,
    output: 'text',
    timeoutMs: 300_000,
    intervalMs: 2000,
  });
  assert.deepEqual(parseCommandLine(['history', 'iris', '-o', 'yaml']).command, { kind: 'history', name: 'iris', output: 'yaml' });
  assert.deepEqual(parseCommandLine(['undo', 'iris', '--to-version', '1', '--yes']).command, {
    kind: 'undo',
    name: 'iris',
    toVersion: '1',
    yes: true,
  });
  assert.deepEqual(parseCommandLine(['undo', 'iris']).command, { kind: 'undo', name: 'iris', yes: false });
  for (const action of ['promote', 'abort', 'pause', 'resume'])
    assert.deepEqual(parseCommandLine([action, 'iris']).command, { kind: 'control', action, name: 'iris' });
  assert.deepEqual(parseCommandLine(['predict', 'iris', '--instances', '[[1,2,3,4]]', '--v1']).command, {
    kind: 'predict',
    name: 'iris',
    v1: true,
    instances: [[1, 2, 3, 4]],
  });
  assert.deepEqual(parseCommandLine(['predict', 'iris', '-f', '-']).command, { kind: 'predict', name: 'iris', v1: false, file: '-' });
  assert.deepEqual(parseCommandLine(['logs', 'iris', '--version', '2', '--follow', '--tail', '20']).command, {
    kind: 'logs',
    name: 'iris',
    follow: true,
    version: '2',
    tail: 20,
  });
  assert.deepEqual(parseCommandLine([]).command, { kind: 'help' });
  assert.deepEqual(parseCommandLine(['undo', '--help']).command, { kind: 'help', topic: 'undo' });
  assert.deepEqual(parseCommandLine(['version']).command, { kind: 'version' });
});

test('usage errors name what is wrong', () => {
  const cases: Array<[string[], RegExp]> = [
    [['rollback', 'iris'], /unknown command "rollback"; commands: status, history/],
    [['status'], /status needs the name of a ModelDeployment/],
    [['status', 'a', 'b'], /takes one ModelDeployment name, got 2/],
    [['status', 'iris', '--bogus'], /Unknown option '--bogus'/],
    [['status', 'iris', '-o', 'wide'], /-o\/--output must be json or yaml, not "wide"/],
    [['status', 'iris', '--timeout', '5m'], /--timeout and --interval need --watch/],
    [['status', 'iris', '-w', '-o', 'json'], /--watch prints the text summary/],
    [['status', 'iris', '-w', '--timeout', 'soon'], /--timeout must be a duration/],
    [['history', 'iris', '--yes'], /history does not take -y\/--yes/],
    [['promote', 'iris', '--to-version', '2'], /promote does not take --to-version/],
    [['undo', 'iris', '--to-version', ''], /--to-version must not be empty/],
    [['predict', 'iris'], /predict needs a request: -f request.json/],
    [['predict', 'iris', '-f', 'a.json', '--instances', '[[1]]'], /not both/],
    [['predict', 'iris', '--instances', '[[1,2'], /--instances is not JSON/],
    [['predict', 'iris', '--instances', '{"a":1}'], /must be a non-empty JSON array/],
    [['logs', 'iris', '--tail', 'ten'], /--tail must be a number of lines, not "ten"/],
    [['version', 'extra'], /version takes no arguments/],
  ];
  for (const [argv, message] of cases)
    assert.throws(
      () => parseCommandLine(argv),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
      argv.join(' '),
    );
});

test('durations: plain seconds and h/m/s', () => {
  assert.equal(parseDuration('30', '--timeout'), 30_000);
  assert.equal(parseDuration('1h30m', '--timeout'), 5_400_000);
  assert.equal(parseDuration('90s', '--timeout'), 90_000);
  assert.throws(() => parseDuration('', '--timeout'), UsageError);
  assert.throws(() => parseDuration('5x', '--timeout'), UsageError);
});
