/**
 * The OpenAPI document and Swagger UI of the real runtime process, for every fixture model in
 * examples/models/ (all but "broken", which never loads): /openapi.json validates against the
 * OpenAPI 3.1 schema (@seriousme/openapi-schema-validator), names the model's real inputs and
 * outputs with their datatypes and shapes (as /v2/models/{m} reports them), and its example
 * requests (V2 infer and V1 predict) are answered 200 by the same runtime. GET /docs serves
 * Swagger UI from swagger-ui-dist: strict headers, only allow-listed files, and every URL in the
 * page resolves and loads also through a path-prefix proxy (the API server's service proxy).
 */
import assert from 'node:assert/strict';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { post, request, ROOT, startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';
import { prefixProxy } from './prefix-proxy.ts';

interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
}
interface Operation {
  requestBody?: { content: Record<string, { example?: unknown }> };
  parameters?: { $ref?: string; name?: string }[];
  responses: Record<string, { headers?: Record<string, { $ref?: string }> }>;
}
interface OpenApiDoc {
  openapi: string;
  info: { description: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { oneOf?: { title: string; properties: Record<string, { const?: unknown }> }[] }>;
    parameters: Record<string, { name: string; in: string }>;
    headers: Record<string, unknown>;
  };
}

/** Every fixture model that loads (one with an expected.json; "broken" has none). */
const MODELS = readdirSync(join(ROOT, 'examples', 'models')).filter((m) =>
  existsSync(join(ROOT, 'examples', 'models', m, 'expected.json')),
);

async function validate(doc: unknown): Promise<void> {
  const validator = new Validator();
  const result = await validator.validate(doc as Record<string, unknown>);
  assert.equal(result.valid, true, `not a valid OpenAPI document: ${JSON.stringify(result.errors, null, 1)?.slice(0, 3000)}`);
  assert.equal(validator.version, '3.1');
}

/** The `const` of one property of each alternative of a components schema (e.g. the input names). */
function alternatives(doc: OpenApiDoc, schema: string): Tensor[] {
  const alts = doc.components.schemas[schema]?.oneOf ?? [];
  return alts.map((a) => ({
    name: a.properties['name']?.const as string,
    datatype: a.properties['datatype']?.const as string,
    shape: [],
  }));
}

const example = (doc: OpenApiDoc, path: string): unknown => doc.paths[path]?.['post']?.requestBody?.content['application/json']?.example;

test('the fixture models: every directory of examples/models but "broken"', () => {
  assert.deepEqual(
    readdirSync(join(ROOT, 'examples', 'models')).filter((m) => !MODELS.includes(m)),
    ['broken'],
  );
  assert.ok(MODELS.length >= 7, MODELS.join());
});

for (const model of MODELS) {
  describe(`/openapi.json of ${model}`, () => {
    let rt: Runtime;
    let doc: OpenApiDoc;
    let metadata: { inputs: Tensor[]; outputs: Tensor[] };
    before(async () => {
      rt = await startRuntime({ model });
      doc = (await request(`${rt.url}/openapi.json`)).json() as unknown as OpenApiDoc;
      metadata = (await request(`${rt.url}/v2/models/${model}`)).json() as unknown as typeof metadata;
    });
    after(async () => rt?.stop());

    test('validates against the OpenAPI 3.1 schema', async () => {
      await validate(doc);
    });

    test('every operation declares the x-request-id and traceparent request headers and the x-request-id answer header', () => {
      assert.deepEqual(
        [doc.components.parameters['RequestId'], doc.components.parameters['Traceparent']].map((p) => p && [p.name, p.in]),
        [
          ['x-request-id', 'header'],
          ['traceparent', 'header'],
        ],
      );
      assert.ok(doc.components.headers['RequestId']);
      let operations = 0;
      for (const [path, item] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(item)) {
          operations++;
          const refs = (op.parameters ?? []).map((p) => p.$ref);
          assert.ok(refs.includes('#/components/parameters/RequestId'), `${method} ${path}`);
          assert.ok(refs.includes('#/components/parameters/Traceparent'), `${method} ${path}`);
          for (const [code, response] of Object.entries(op.responses)) {
            assert.equal(response.headers?.['x-request-id']?.$ref, '#/components/headers/RequestId', `${method} ${path} ${code}`);
          }
        }
      }
      assert.equal(operations, 17, 'every path of the document, one method each');
    });

    test("names the model's inputs and outputs with their datatypes and shapes", () => {
      const pick = (t: Tensor) => ({ name: t.name, datatype: t.datatype });
      assert.deepEqual(alternatives(doc, 'RequestInput').map(pick), metadata.inputs.map(pick));
      assert.deepEqual(alternatives(doc, 'ResponseOutput').map(pick), metadata.outputs.map(pick));
      // the table at the top of the page: one row per tensor, with its declared shape
      for (const [kind, list] of [
        ['input', metadata.inputs],
        ['output', metadata.outputs],
      ] as const) {
        for (const t of list) {
          const row = `| ${kind} | \`${t.name}\` | ${t.datatype} | \`[${t.shape.join(', ')}]\` |`;
          assert.ok(doc.info.description.includes(row), `missing ${row} in:\n${doc.info.description}`);
        }
      }
      assert.deepEqual(doc.servers, [{ url: '.', description: 'this runtime (relative to /openapi.json)' }]);
    });

    test('its example requests are answered 200 (V2 infer, V1 predict, with and without a version)', async () => {
      const v2 = example(doc, '/v2/models/{model}/infer');
      const v1 = example(doc, '/v1/models/{model}:predict');
      assert.ok(v2 && v1, 'the document has example request bodies');
      assert.deepEqual(example(doc, '/v2/models/{model}/versions/{version}/infer'), v2);
      for (const [path, body] of [
        [`/v2/models/${model}/infer`, v2],
        [`/v2/models/${model}/versions/1/infer`, v2],
        [`/v1/models/${model}:predict`, v1],
        [`/v1/models/${model}/versions/1:predict`, v1],
      ] as const) {
        const r = await post(rt.url + path, body);
        assert.equal(r.status, 200, `${path} ${JSON.stringify(body).slice(0, 300)} -> ${r.status} ${r.text.slice(0, 300)}`);
      }
    });
  });
}

describe('/openapi.json with an API key on', () => {
  const KEY = 'docs-test-key';
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime({ model: 'two-inputs', env: { MODELSHIP_API_KEY: KEY } });
  });
  after(async () => rt?.stop());

  test('describes the model only to a request with the key; a wrong key is a 401; both documents validate', async () => {
    const open = await request(`${rt.url}/openapi.json`);
    assert.equal(open.status, 200);
    const generic = open.json() as unknown as OpenApiDoc;
    await validate(generic);
    assert.deepEqual(alternatives(generic, 'RequestInput'), [], 'no input names without the key');
    assert.equal(example(generic, '/v2/models/{model}/infer'), undefined);
    assert.match(generic.info.description, /needs an API key to describe it/);

    for (const headers of [{ authorization: `Bearer ${KEY}` }, { 'x-api-key': KEY }] as Record<string, string>[]) {
      const r = await request(`${rt.url}/openapi.json`, { headers });
      assert.equal(r.status, 200);
      const doc = r.json() as unknown as OpenApiDoc;
      await validate(doc);
      assert.equal(alternatives(doc, 'RequestInput').length, 2, JSON.stringify(headers));
      const ok = await post(`${rt.url}/v2/models/two-inputs/infer`, example(doc, '/v2/models/{model}/infer'), headers);
      assert.equal(ok.status, 200, ok.text);
    }
    const wrong = await request(`${rt.url}/openapi.json`, { headers: { 'x-api-key': 'nope' } });
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json(), { error: 'invalid API key' });
  });

  test('/docs and its files stay open (they hold nothing about the model)', async () => {
    const page = await request(`${rt.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.text.includes('"a"'), false);
  });
});

describe('GET /docs (iris)', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime({ model: 'iris' });
  });
  after(async () => rt?.stop());

  const assetUrls = (html: string): string[] => [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);

  test('the page: HTML, strict CSP, nosniff, no-cache, only relative URLs to the runtime', async () => {
    const r = await request(`${rt.url}/docs`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    const csp = r.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /style-src 'self'(;|$)/);
    assert.equal(csp.includes('unsafe'), false, csp);
    assert.equal(/<script>|<style>| style=/.test(r.text), false, 'no inline script or style');
    const urls = assetUrls(r.text);
    assert.deepEqual(
      urls.filter((u) => /^(\/|[a-z]+:)/i.test(u)),
      [],
      'every URL is relative',
    );
    assert.ok(urls.some((u) => u.endsWith('/swagger-ui-bundle.js')));
    assert.ok(urls.includes('docs/init.js'));
    const init = await request(`${rt.url}/docs/init.js`);
    assert.equal(init.status, 200);
    assert.equal(init.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(init.text, /new URL\('openapi\.json', document\.baseURI\)/);
    assert.match(init.text, /validatorUrl: null/);
  });

  test('each file: its content type, immutable caching, the bytes of the installed package', async () => {
    const html = (await request(`${rt.url}/docs`)).text;
    const want: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', png: 'image/png' };
    const { readFileSync } = await import('node:fs');
    for (const u of assetUrls(html).filter((x) => x.startsWith('docs/assets/'))) {
      const r = await request(new URL(u, `${rt.url}/docs`).href);
      assert.equal(r.status, 200, u);
      assert.equal(r.headers.get('content-type'), want[u.split('.').pop() as string], u);
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable', u);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', u);
      const file = u.split('/').pop() as string;
      assert.ok(r.body.equals(readFileSync(join(ROOT, 'node_modules', 'swagger-ui-dist', file))), u);
    }
  });

  test('nothing off the allow-list: other package files, another version, traversal -> 404 {"error"}', async () => {
    const html = (await request(`${rt.url}/docs`)).text;
    const bundle = assetUrls(html).find((u) => u.endsWith('swagger-ui-bundle.js')) as string;
    const dir = bundle.slice(0, bundle.lastIndexOf('/'));
    for (const path of [
      `${dir}/index.html`,
      `${dir}/swagger-initializer.js`,
      `${dir}/package.json`,
      `${dir}/swagger-ui-bundle.js.map`,
      `${dir}/..%2F..%2Fpackage.json`,
      `${dir}/%2e%2e%2fpackage.json`,
      `${dir}/..%5c..%5cpackage.json`,
      'docs/assets/0.0.1/swagger-ui-bundle.js',
      'docs/assets/swagger-ui-bundle.js',
      'docs/index.html',
      'docs/assets/..%2F..%2F..%2F..%2Fpackage.json/x',
    ]) {
      const r = await request(`${rt.url}/${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(typeof r.json()['error'], 'string', path);
    }
  });

  test('/docs/ redirects relatively to ../docs (the page resolves its URLs against /docs)', async () => {
    const r = await fetch(`${rt.url}/docs/`, { redirect: 'manual' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), '../docs');
  });

  test('through a path-prefix proxy: the page, every file, init.js, openapi.json and the example request resolve and answer 200', async () => {
    const proxy = await prefixProxy(rt.url, '/api/v1/namespaces/models/services/iris:8080/proxy');
    try {
      const pageUrl = `${proxy.url}/docs`;
      const page = await request(pageUrl);
      assert.equal(page.status, 200);
      for (const u of assetUrls(page.text)) {
        const r = await request(new URL(u, pageUrl).href);
        assert.equal(r.status, 200, `${u} -> ${new URL(u, pageUrl).href}`);
      }
      // as init.js resolves it: against the page
      const specUrl = new URL('openapi.json', pageUrl).href;
      assert.equal(specUrl, `${proxy.url}/openapi.json`);
      const doc = (await request(specUrl)).json() as unknown as OpenApiDoc;
      // as Swagger UI resolves the server: relative to the document
      const base = new URL(doc.servers[0]?.url as string, specUrl).href.replace(/\/$/, '');
      assert.equal(base, proxy.url);
      const r = await post(`${base}/v2/models/iris/infer`, example(doc, '/v2/models/{model}/infer'));
      assert.equal(r.status, 200, r.text);
      const redirect = await fetch(`${proxy.url}/docs/`, { redirect: 'manual' });
      assert.equal(new URL(redirect.headers.get('location') as string, `${proxy.url}/docs/`).href, pageUrl);
    } finally {
      await proxy.close();
    }
  });
});
