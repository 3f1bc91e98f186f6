// The runtime's TLS and key-file configuration, and the multi-key check (pure parts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseServe } from '../../runtime/src/config.ts';
import { ConfigError, HttpError } from '../../runtime/src/errors.ts';
import { KeyFileDigests, MAX_API_KEYS, parseKeyFile } from '../../runtime/src/http/api-keys.ts';
import { makeKeyCheck } from '../../runtime/src/http/auth.ts';

const base = { MODELSHIP_MODEL_PATH: '/m.onnx' };

test('TLS files: both or neither; a client CA only with them', () => {
  assert.equal(parseServe([], base).tls, undefined);
  assert.deepEqual(parseServe([], { ...base, MODELSHIP_TLS_CERT_FILE: '/t/tls.crt', MODELSHIP_TLS_KEY_FILE: '/t/tls.key' }).tls, {
    certFile: '/t/tls.crt',
    keyFile: '/t/tls.key',
    clientCaFile: undefined,
  });
  assert.equal(parseServe(['--tls-cert-file', 'c', '--tls-key-file', 'k', '--tls-client-ca-file', 'ca'], base).tls?.clientCaFile, 'ca');
  assert.throws(
    () => parseServe(['--tls-key-file', 'k'], base),
    (e: unknown) => e instanceof ConfigError && /go together/.test(e.message),
  );
  assert.throws(() => parseServe(['--tls-client-ca-file', 'ca'], base), /mTLS is part of HTTPS/);
});

test('--api-key and --api-key-file exclude each other', () => {
  assert.equal(parseServe([], { ...base, MODELSHIP_API_KEY_FILE: '/k/keys' }).apiKeyFile, '/k/keys');
  assert.throws(() => parseServe([], { ...base, MODELSHIP_API_KEY: 'a', MODELSHIP_API_KEY_FILE: '/k/keys' }), /exclude each other/);
});

test('key file: one key per line, whitespace and blank lines ignored; empty or control characters refused', () => {
  assert.deepEqual(parseKeyFile(' a \n\nb\r\n', 'f'), ['a', 'b']);
  assert.throws(() => parseKeyFile('\n  \n', 'f'), /holds no key/);
  assert.throws(() => parseKeyFile('a\x01b', 'f'), /control characters/);
  // every request is compared with every key: a file of 1 MiB of one-character keys would be ~500,000 comparisons each
  const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`).join('\n');
  assert.equal(parseKeyFile(keys(MAX_API_KEYS), 'f').length, MAX_API_KEYS);
  assert.throws(() => parseKeyFile(keys(MAX_API_KEYS + 1), 'f'), /holds 65 keys, more than 64/);
  assert.throws(() => parseKeyFile('k\n'.repeat(512 * 1024), 'f'), /more than 64/);
});

test('several keys valid at once; an update replaces them all; a bad update keeps the old ones', () => {
  const keys = new KeyFileDigests('f', 'old\nnew\n');
  const check = makeKeyCheck(keys);
  const ok = (k: string) => {
    try {
      check({ authorization: `Bearer ${k}` });
      return true;
    } catch (e) {
      assert.ok(e instanceof HttpError && e.status === 401);
      return false;
    }
  };
  assert.ok(ok('old') && ok('new'));
  assert.ok(!ok('other') && !ok('') && !ok('old\nnew'));
  keys.update('new');
  assert.ok(!ok('old') && ok('new'));
  assert.throws(() => keys.update(''), /holds no key/);
  assert.ok(ok('new'), 'the keys in use stay');
  assert.throws(() => check({}), /missing API key/);
});
