/**
 * Manual check in a real headless browser (Debian's `chromium`, which CI does not install: this
 * is not part of `npm test`): Swagger UI at /docs of a real runtime serving iris renders the
 * model's inputs and outputs, loads nothing but the runtime's own files, breaks no CSP rule, and
 * its "Try it out" runs the document's example inference with a 200 answer; directly, through a
 * path-prefix proxy (as the API server's service proxy), and with an API key on (the model shows
 * up after Authorize). Driven over the DevTools protocol; exits 1 when any check fails.
 *
 *   apt-get install -y chromium
 *   ./node_modules/.bin/node test/browser/docs-ui.ts [screenshot.png]   (default /tmp/docsui-iris.png)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRuntime, type Runtime } from '@modelship/devcluster/runtime-process';
import { prefixProxy } from '../runtime/prefix-proxy.ts';

const SCREENSHOT = process.argv[2] ?? '/tmp/docsui-iris.png';
const KEY = 'docs-browser-key';
const PREFIX = '/api/v1/namespaces/models/services/iris:8080/proxy';

type Json = Record<string, unknown>;
interface CdpEvent {
  method: string;
  params: Json;
  sessionId?: string;
}

/** A DevTools protocol connection (flat sessions). */
class Cdp {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly events: CdpEvent[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener('message', (m) => {
      const msg = JSON.parse(String(m.data)) as { id?: number; result?: Json; error?: { message: string } } & CdpEvent;
      if (msg.id === undefined) {
        this.events.push(msg);
        return;
      }
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message));
      else p?.resolve(msg.result ?? {});
    });
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener('open', () => resolve(new Cdp(ws)));
      ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)));
    });
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  close(): void {
    this.ws.close();
  }
}

async function launchChromium(profile: string): Promise<{ proc: ChildProcess; wsUrl: string }> {
  const proc = spawn(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let err = '';
  const wsUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${err}`)), 30_000);
    proc.on('error', (e) => reject(new Error(`cannot run chromium (apt-get install -y chromium): ${e.message}`)));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  return { proc, wsUrl };
}

interface PageRun {
  rows: string[][];
  requests: { url: string; status: number; mimeType: string }[];
  failed: string[];
  problems: string[];
  tryItOut?: { status: string; requestUrl: string };
  screenshot?: Buffer;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The rows of the tensor table at the top of the page (Swagger UI renders info.description's markdown). */
const ROWS_JS = `[...document.querySelectorAll('.information-container table tr')].map((tr) => [...tr.children].map((c) => c.textContent.trim()))`;

/** Sets a React-controlled input the way typing does. */
const TYPE_JS = (selector: string, value: string) => `(() => {
  const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
  const inputs = [...document.querySelectorAll(${JSON.stringify(selector)})];
  for (const i of inputs) { set.call(i, ${JSON.stringify(value)}); i.dispatchEvent(new Event('input', { bubbles: true })); }
  return inputs.length;
})()`;

const CLICK_JS = (selector: string) =>
  `(() => { const els = [...document.querySelectorAll(${JSON.stringify(selector)})]; els.forEach((e) => e.click()); return els.length; })()`;

async function visit(cdp: Cdp, url: string, opts: { authorize?: string; tryItOut?: boolean; screenshot?: boolean }): Promise<PageRun> {
  const { targetId } = (await cdp.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
  const { sessionId } = (await cdp.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
  const send = (method: string, params: Json = {}) => cdp.send(method, params, sessionId);
  const evaluate = async (expression: string): Promise<unknown> => {
    const r = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: unknown };
      exceptionDetails?: { text: string };
    };
    if (r.exceptionDetails) throw new Error(`${expression.slice(0, 80)}: ${r.exceptionDetails.text}`);
    return r.result.value;
  };
  const waitFor = async <T>(what: string, expression: string, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = (await evaluate(expression)) as T;
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${url}: timed out waiting for ${what} (last: ${JSON.stringify(v)?.slice(0, 300)})`);
      await sleep(200);
    }
  };
  const first = cdp.events.length;
  for (const domain of ['Page', 'Runtime', 'Log', 'Network']) await send(`${domain}.enable`);
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1600, deviceScaleFactor: 1, mobile: false });
  await send('Page.navigate', { url });
  const hasInputRow = (rows: string[][]) => rows.some((r) => r[0] === 'input');
  let rows: string[][];
  if (opts.authorize) {
    // first the generic description (no key yet), then the model once authorized
    await waitFor<string>('the generic description', `document.querySelector('.information-container')?.textContent ?? ''`, (t) =>
      t.includes('needs an API key'),
    );
    rows = (await evaluate(ROWS_JS)) as string[][];
    if (hasInputRow(rows)) throw new Error(`${url}: the model's inputs are shown before Authorize: ${JSON.stringify(rows)}`);
    await evaluate(CLICK_JS('.auth-wrapper .authorize'));
    await waitFor<number>('the Authorize dialog', `document.querySelectorAll('.auth-container input').length`, (n) => n > 0);
    await evaluate(TYPE_JS('.auth-container input', opts.authorize));
    await evaluate(CLICK_JS('.auth-container .auth-btn-wrapper .authorize'));
    await evaluate(CLICK_JS('.auth-btn-wrapper .btn-done'));
  }
  rows = await waitFor<string[][]>('the table of inputs and outputs', ROWS_JS, hasInputRow);
  const run: PageRun = { rows, requests: [], failed: [], problems: [] };
  if (opts.screenshot) {
    await sleep(500);
    const { data } = (await send('Page.captureScreenshot', { format: 'png' })) as { data: string };
    run.screenshot = Buffer.from(data, 'base64');
  }
  if (opts.tryItOut) {
    const op = `[...document.querySelectorAll('.opblock-post')].find((o) => o.querySelector('.opblock-summary-path')?.getAttribute('data-path') === '/v2/models/{model}/infer')`;
    await evaluate(`${op}.querySelector('.opblock-summary-control').click()`);
    await waitFor<boolean>('the operation to open', `!!${op}.querySelector('.try-out__btn')`, Boolean);
    await evaluate(`${op}.querySelector('.try-out__btn').click()`);
    await waitFor<boolean>('Try it out', `!!${op}.querySelector('.execute')`, Boolean);
    await evaluate(TYPE_JS('.opblock-post.is-open .parameters input[placeholder="model"]', 'iris'));
    await evaluate(`${op}.querySelector('.execute').click()`);
    run.tryItOut = await waitFor<{ status: string; requestUrl: string }>(
      'the answer of Execute',
      `(() => { const o = ${op}; return { status: o.querySelector('.live-responses-table tbody .response-col_status')?.textContent.trim() ?? '', requestUrl: o.querySelector('.request-url pre')?.textContent.trim() ?? '' }; })()`,
      (v) => /^\d+$/.test(v.status),
    );
  }
  await sleep(300);
  for (const e of cdp.events.slice(first).filter((x) => x.sessionId === sessionId)) {
    if (e.method === 'Network.responseReceived') {
      const r = e.params['response'] as { url: string; status: number; mimeType: string };
      run.requests.push({ url: r.url, status: r.status, mimeType: r.mimeType });
    } else if (e.method === 'Network.loadingFailed') run.failed.push(JSON.stringify(e.params));
    else if (e.method === 'Log.entryAdded') {
      const entry = e.params['entry'] as { level: string; text: string; url?: string };
      if (entry.level === 'error' || entry.level === 'warning') run.problems.push(`${entry.level}: ${entry.text} ${entry.url ?? ''}`);
    } else if (e.method === 'Runtime.exceptionThrown') run.problems.push(`exception: ${JSON.stringify(e.params).slice(0, 500)}`);
    else if (e.method === 'Runtime.consoleAPICalled' && ['error', 'warning', 'assert'].includes(e.params['type'] as string)) {
      run.problems.push(`console.${e.params['type'] as string}: ${JSON.stringify(e.params['args']).slice(0, 500)}`);
    }
  }
  await cdp.send('Target.closeTarget', { targetId });
  return run;
}

function check(label: string, run: PageRun, origin: string, expectedRequestUrl: string | undefined): string[] {
  const errors: string[] = [];
  const rowText = run.rows.map((r) => r.join(' | '));
  if (!rowText.includes('input | input | FP32 | [-1, 4]'))
    errors.push(`${label}: no row "input | input | FP32 | [-1, 4]" in ${JSON.stringify(rowText)}`);
  for (const r of run.requests) {
    if (!r.url.startsWith(origin) && !r.url.startsWith('data:')) errors.push(`${label}: a request left the runtime: ${r.url}`);
    if (r.status !== 200 && !r.url.startsWith('data:')) errors.push(`${label}: ${r.url} answered ${r.status}`);
  }
  if (run.failed.length > 0) errors.push(`${label}: failed loads: ${run.failed.join('; ')}`);
  if (run.problems.length > 0) errors.push(`${label}: browser errors/warnings (CSP violations among them): ${run.problems.join('; ')}`);
  if (expectedRequestUrl !== undefined) {
    if (run.tryItOut?.status !== '200') errors.push(`${label}: Try it out answered ${JSON.stringify(run.tryItOut)}`);
    if (run.tryItOut?.requestUrl !== expectedRequestUrl) {
      errors.push(`${label}: Try it out sent to ${run.tryItOut?.requestUrl}, expected ${expectedRequestUrl}`);
    }
  }
  process.stdout.write(
    `${label}: ${run.requests.length} requests (${[...new Set(run.requests.map((r) => `${r.status} ${r.mimeType}`))].join(', ')}), ` +
      `table rows ${JSON.stringify(rowText.slice(1))}${run.tryItOut ? `, Try it out: ${run.tryItOut.status} from ${run.tryItOut.requestUrl}` : ''}\n`,
  );
  return errors;
}

async function main(): Promise<number> {
  const profile = mkdtempSync(join(tmpdir(), 'modelship-chromium-'));
  const started: Runtime[] = [];
  let chromium: ChildProcess | undefined;
  let proxy: Awaited<ReturnType<typeof prefixProxy>> | undefined;
  let cdp: Cdp | undefined;
  try {
    const iris = await startRuntime({ model: 'iris' });
    started.push(iris);
    const keyed = await startRuntime({ model: 'iris', env: { MODELSHIP_API_KEY: KEY } });
    started.push(keyed);
    proxy = await prefixProxy(iris.url, PREFIX);
    const launched = await launchChromium(profile);
    chromium = launched.proc;
    cdp = await Cdp.connect(launched.wsUrl);
    const version = (await cdp.send('Browser.getVersion')) as { product: string };
    process.stdout.write(`browser: ${version.product}\n`);

    const errors: string[] = [];
    const direct = await visit(cdp, `${iris.url}/docs`, { tryItOut: true, screenshot: true });
    errors.push(...check('direct', direct, iris.url, `${iris.url}/v2/models/iris/infer`));
    writeFileSync(SCREENSHOT, direct.screenshot as Buffer);
    process.stdout.write(`screenshot: ${SCREENSHOT} (${(direct.screenshot as Buffer).length} bytes)\n`);

    const prefixed = await visit(cdp, `${proxy.url}/docs`, { tryItOut: true });
    const proxyOrigin = new URL(proxy.url).origin;
    errors.push(...check(`through ${PREFIX}`, prefixed, proxyOrigin, `${proxy.url}/v2/models/iris/infer`));
    if (!prefixed.requests.some((r) => r.url === `${proxy!.url}/openapi.json`))
      errors.push('prefix: openapi.json not loaded from under the prefix');

    const withKey = await visit(cdp, `${keyed.url}/docs`, { authorize: KEY });
    errors.push(...check('API key on, after Authorize', withKey, keyed.url, undefined));
    const specLoads = withKey.requests.filter((r) => r.url === `${keyed.url}/openapi.json`).length;
    if (specLoads < 2) errors.push(`API key: openapi.json loaded ${specLoads} time(s), expected again after Authorize`);

    for (const e of errors) process.stdout.write(`FAIL ${e}\n`);
    process.stdout.write(errors.length === 0 ? 'docs-ui: all browser checks passed\n' : `docs-ui: ${errors.length} check(s) failed\n`);
    return errors.length === 0 ? 0 : 1;
  } finally {
    cdp?.close();
    if (chromium?.pid !== undefined && chromium.exitCode === null) {
      const exited = new Promise((r) => chromium!.once('exit', r));
      process.kill(-chromium.pid, 'SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    await proxy?.close();
    for (const rt of started) await rt.stop();
    rmSync(profile, { recursive: true, force: true });
  }
}

process.exitCode = await main();
