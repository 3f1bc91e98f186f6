/**
 * express application for everything except the inference hot path: health, server and model
 * metadata (V2 and TF-Serving status), metrics, OpenAPI, and the JSON 404/405/error handling.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { HTTP_PATH } from '../../../contract/runtime-contract.ts';
import type { KeyCheck } from './auth.ts';
import { errorMessage, HttpError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import { v2Metadata } from '../tensor/model.ts';
import { openApiDocument } from './openapi.ts';
import { malformedSegment } from './routes.ts';
import type { ServerState } from './state.ts';

export const SERVER_NAME = 'modelship';
export const SERVER_VERSION = '0.1.0';

export interface AppDeps {
  state: ServerState;
  metrics: Metrics;
  checkKey: KeyCheck;
  log: Logger;
}

export function createApp(deps: AppDeps): express.Express {
  const { state, metrics, checkKey } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((_req, res, next) => {
    if (state.closing) res.setHeader('Connection', 'close');
    next();
  });
  // before routing: express would fail to decode the parameter and reach the error handler
  app.use((req, res, next) => {
    const bad = malformedSegment(req.path);
    if (bad === undefined) {
      next();
      return;
    }
    const shown = bad.length > 64 ? `${bad.slice(0, 64)}...` : bad;
    res.status(400).json({ error: `malformed percent-escape in the path segment "${shown}" (not UTF-8 percent-encoding)` });
  });

  // open: kubelet and Prometheus do not carry the API key
  app.get(HTTP_PATH.live, (_req, res) => {
    const problem = state.notLiveReason();
    if (problem) res.status(503).json({ error: `server is not live: ${problem}` });
    else res.json({ live: true });
  });
  app.get(HTTP_PATH.ready, (_req, res) => {
    if (state.ready) res.json({ ready: true });
    else res.status(503).json({ error: `server is not ready: ${state.notReadyReason()}` });
  });
  app.get(HTTP_PATH.metrics, async (_req, res) => {
    res.setHeader('Content-Type', metrics.contentType);
    res.end(await metrics.text());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(state.modelName, SERVER_VERSION, state.model));
  });

  // API key from here on; each response counted
  const guarded = (protocol: string) => (req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => metrics.count(protocol, res.statusCode));
    checkKey(req.headers);
    next();
  };
  const v2 = express.Router();
  v2.use(guarded('v2'));
  v2.get('/', (_req, res) => {
    res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: ['binary_tensor_data'] });
  });
  v2.get(['/models/:model', '/models/:model/versions/:version'], (req, res) => {
    const model = state.resolve(req.params['model'] as string, req.params['version'] as string | undefined);
    res.json(v2Metadata(model));
  });
  v2.get(['/models/:model/ready', '/models/:model/versions/:version/ready'], (req, res) => {
    const name = req.params['model'] as string;
    state.resolve(name, req.params['version'] as string | undefined);
    if (!state.ready) throw new HttpError(503, `model "${name}" is not ready: ${state.notReadyReason()}`);
    res.json({ name, ready: true });
  });
  app.use('/v2', v2);

  const v1 = express.Router();
  v1.use(guarded('v1'));
  const status = (req: Request, res: Response) => {
    const name = req.params['model'] as string;
    let model;
    try {
      model = state.resolve(name, req.params['version'] as string | undefined);
    } catch (err) {
      if (!(err instanceof HttpError) || err.status !== 503) throw err;
    }
    const stateName = model ? (state.phase === 'ready' ? 'AVAILABLE' : 'UNLOADING') : state.phase === 'failed' ? 'END' : 'LOADING';
    res.json({
      model_version_status: [{ version: state.modelVersion, state: stateName, status: { error_code: 'OK', error_message: '' } }],
    });
  };
  v1.get(['/models/:model', '/models/:model/versions/:version'], status);
  v1.get(['/models/:model/metadata', '/models/:model/versions/:version/metadata'], (req, res) => {
    const model = state.resolve(req.params['model'] as string, req.params['version'] as string | undefined);
    const tensor = (t: { name: string; datatype: string; shape: number[] }) => ({ name: t.name, dtype: t.datatype, shape: t.shape });
    res.json({
      model_spec: { name: model.name, version: model.version },
      metadata: { signature_def: { serving_default: { inputs: model.inputs.map(tensor), outputs: model.outputs.map(tensor) } } },
    });
  });
  app.use('/v1', v1);

  // inference routes reach express only with the wrong method (POSTs are served in front of it)
  app.all(/^\/v2\/models\/[^/]+(\/versions\/[^/]+)?\/infer$|^\/v1\/models\/[^/]+(\/versions\/[^/]+)?:predict$/, (req, res) => {
    res.setHeader('Allow', 'POST');
    res.status(405).json({ error: `method ${req.method} is not allowed on ${req.path}: use POST` });
  });
  app.use((req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}` });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message });
      return;
    }
    // express/router client errors (e.g. a parameter that fails to decode) carry a 4xx status
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: errorMessage(err) });
      return;
    }
    deps.log.error('request failed', { error: errorMessage(err) });
    res.status(500).json({ error: 'internal error' });
  });
  return app;
}
