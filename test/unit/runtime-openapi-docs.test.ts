/**
 * The pure parts of /openapi.json and /docs: the document validates (OpenAPI 3.1 schema,
 * @seriousme/openapi-schema-validator) for model shapes the fixture models do not cover, its
 * :predict example follows a fixed first dimension, the Swagger UI page holds only relative URLs
 * to allow-listed files and escapes the model name, the file server refuses anything off the
 * allow-list, and the runtime image keeps every allow-listed file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { HttpError } from '../../runtime/src/errors.ts';
import { docsPage, locateSwaggerUi, SWAGGER_UI_FILES, SwaggerUiAssets } from '../../runtime/src/http/docs.ts';
import { openApiDocument } from '../../runtime/src/http/openapi.ts';
import { buildModelSpec, type RawValueMetadata } from '../../runtime/src/tensor/model.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const tensor = (name: string, type: string, shape: (number | string)[] | undefined): RawValueMetadata => ({
  name,
  isTensor: true,
  type,
  ...(shape ? { shape } : {}),
});

async function validity(doc: object): Promise<{ valid: boolean; errors?: unknown }> {
  return new Validator().validate(doc as Record<string, unknown>);
}

interface Doc {
  paths: Record<string, { post?: { requestBody: { content: { 'application/json': { example?: Record<string, unknown> } } } } }>;
  info: { description: string };
}
const predictExample = (doc: object) =>
  (doc as Doc).paths['/v1/models/{model}:predict']?.post?.requestBody.content['application/json'].example as Record<string, unknown>;

test('the validator rejects a broken document (so "valid" below means something)', async () => {
  const doc = openApiDocument('m', '0.1.0', undefined) as Record<string, unknown>;
  assert.equal((await validity({ ...doc, info: { title: 'no version' } })).valid, false);
  assert.equal((await validity({ ...doc, paths: { 'no-slash': {} } })).valid, false);
});

test('documents validate: generic (no model), rank 0, undeclared output shape, every kind of datatype, fixed first dimensions', async () => {
  const models = [
    undefined,
    buildModelSpec('scalar', '1', [tensor('x', 'float32', [])], [tensor('y', 'float32', undefined)]),
    buildModelSpec(
      'mixed',
      '2',
      [
        tensor('flag', 'bool', ['N', 2]),
        tensor('text', 'string', ['N']),
        tensor('half', 'float16', ['N', 3]),
        tensor('big', 'int64', ['N']),
      ],
      [tensor('out', 'float64', ['N', 'M'])],
    ),
    buildModelSpec('fixed', '3', [tensor('a', 'float32', [3, 4]), tensor('b', 'float32', [2])], [tensor('c', 'float32', [3])]),
  ];
  for (const model of models) {
    const result = await validity(openApiDocument(model?.name ?? 'generic', '0.1.0', model));
    assert.equal(result.valid, true, `${model?.name ?? 'generic'}: ${JSON.stringify(result.errors)}`);
  }
});

test(':predict example: as many rows as a fixed first dimension asks; columnar when inputs disagree or one has rank 0', () => {
  const fixed = buildModelSpec('f', '1', [tensor('m', 'float32', [3, 2])], [tensor('o', 'float32', [3])]);
  assert.deepEqual(predictExample(openApiDocument('f', '1', fixed)), {
    instances: [
      [0.5, 0.5],
      [0.5, 0.5],
      [0.5, 0.5],
    ],
  });
  const dynamic = buildModelSpec('d', '1', [tensor('p', 'int32', ['N', 2]), tensor('q', 'string', ['N'])], [tensor('o', 'float32', ['N'])]);
  assert.deepEqual(predictExample(openApiDocument('d', '1', dynamic)), { instances: [{ p: [1, 1], q: 'modelship' }] });
  const disagree = buildModelSpec('x', '1', [tensor('a', 'float32', [3, 4]), tensor('b', 'float32', [2])], [tensor('c', 'float32', [3])]);
  const columnar = predictExample(openApiDocument('x', '1', disagree));
  assert.deepEqual(Object.keys(columnar), ['inputs']);
  assert.deepEqual((columnar['inputs'] as Record<string, unknown[]>)['b'], [0.5, 0.5]);
  const scalar = buildModelSpec('s', '1', [tensor('x', 'float32', [])], [tensor('y', 'float32', [])]);
  assert.deepEqual(predictExample(openApiDocument('s', '1', scalar)), { inputs: 0.5 });
});

test('the description lists every input and output with datatype and declared shape', () => {
  const model = buildModelSpec('t', '7', [tensor('pixels', 'uint8', ['N', 28, 28])], [tensor('logits', 'float32', ['N', 10])]);
  const { description } = (openApiDocument('t', '1', model) as Doc).info;
  assert.match(description, /\| input \| `pixels` \| UINT8 \| `\[-1, 28, 28\]` \|/);
  assert.match(description, /\| output \| `logits` \| FP32 \| `\[-1, 10\]` \|/);
  assert.match(description, /Model "t", version "7"/);
});

test('the page: relative URLs to allow-listed files of the given version only; the model name escaped', () => {
  const html = docsPage('<img src=x onerror=alert(1)>', '9.9.9');
  assert.equal(html.includes('<img'), false);
  assert.match(html, /<title>&lt;img src=x onerror=alert\(1\)&gt; - /);
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  assert.deepEqual(
    urls.filter((u) => !u.startsWith('docs/')),
    [],
  );
  for (const u of urls.filter((x) => x.startsWith('docs/assets/'))) {
    assert.ok(u.startsWith('docs/assets/9.9.9/'), u);
    assert.ok(Object.hasOwn(SWAGGER_UI_FILES, u.slice('docs/assets/9.9.9/'.length)), u);
  }
  assert.ok(urls.includes('docs/init.js'));
});

test('the file server: allow-listed files of the installed version; anything else is a 404 HttpError', async () => {
  const dist = locateSwaggerUi();
  assert.ok(dist, 'swagger-ui-dist is installed (a runtime dependency)');
  const assets = new SwaggerUiAssets(dist);
  const css = await assets.get(dist.version, 'swagger-ui.css');
  assert.equal(css.contentType, 'text/css; charset=utf-8');
  assert.ok(css.body.equals(readFileSync(join(dist.dir, 'swagger-ui.css'))));
  for (const [version, file] of [
    [dist.version, 'index.html'],
    [dist.version, '../package.json'],
    [dist.version, '..\\package.json'],
    [dist.version, 'constructor'],
    [dist.version, 'hasOwnProperty'],
    [dist.version, '__proto__'],
    [dist.version, 'swagger-ui.css/'],
    ['0.0.0', 'swagger-ui.css'],
    ['', 'swagger-ui.css'],
  ] as const) {
    await assert.rejects(assets.get(version, file), (err: unknown) => err instanceof HttpError && err.status === 404, `${version}/${file}`);
  }
});

test('the runtime image keeps every file /docs serves (runtime/Dockerfile prunes swagger-ui-dist to them)', () => {
  const dockerfile = readFileSync(join(ROOT, 'runtime', 'Dockerfile'), 'utf8');
  const prune = /find node_modules\/swagger-ui-dist -type f ! \\\(([^)]*)\\\) -delete/.exec(dockerfile.replace(/\\\n\s*/g, ''));
  assert.ok(prune, 'the Dockerfile prunes swagger-ui-dist with a keep-list');
  const kept = [...(prune[1] as string).matchAll(/-name (\S+)/g)].map((m) => m[1]);
  for (const file of Object.keys(SWAGGER_UI_FILES)) assert.ok(kept.includes(file), `${file} is pruned from the image`);
  assert.ok(kept.includes('package.json'), 'package.json (locateSwaggerUi reads its version)');
});
