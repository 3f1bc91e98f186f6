/**
 * express application for everything except the inference hot path: health, server and model
 * metadata (V2 and TF-Serving status), metrics, OpenAPI, and the JSON 404/405/error handling.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { HTTP_PATH } from '../../../contract/runtime-contract.ts';
import { badRequest, HttpError, notFound } from '../errors.ts';
import { v2Metadata } from '../tensor/model.ts';
import { presentedKey } from './auth.ts';
import { docsRouter } from './docs.ts';
import { admit, type ApiProtocol, type GuardDeps } from './guard.ts';
import { sendMetrics } from './metrics-endpoint.ts';
import { openApiDocument } from './openapi.ts';
import { REQUEST_ID_HEADER, requestIdentity, TRACEPARENT_HEADER } from './request-id.ts';
import { sendError } from './respond.ts';
import { malformedSegment } from './routes.ts';

export const SERVER_NAME = 'modelship';
export const SERVER_VERSION = '0.1.0';

export function createApp(deps: GuardDeps): express.Express {
  const { state, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    if (state.closing) res.setHeader('Connection', 'close');
    // every answer carries a request id, also a 404 or a malformed path; the API routes' guard
    // sets it again with the identity it logs
    const identity = requestIdentity(req.headers);
    res.setHeader(REQUEST_ID_HEADER, identity.requestId);
    if (identity.traceparent !== undefined) res.setHeader(TRACEPARENT_HEADER, identity.traceparent);
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
    throw badRequest(`malformed percent-escape in the path segment "${shown}" (not UTF-8 percent-encoding)`);
  });

  // open: kubelet and Prometheus do not carry the API key
  app.get(HTTP_PATH.live, (_req, res) => {
    const problem = state.notLiveReason();
    if (problem) throw new HttpError(503, `server is not live: ${problem}`);
    res.json({ live: true });
  });
  app.get(HTTP_PATH.ready, (_req, res) => {
    if (!state.ready) throw new HttpError(503, `server is not ready: ${state.notReadyReason()}`);
    res.json({ ready: true });
  });
  app.get(HTTP_PATH.metrics, (_req, res) => sendMetrics(metrics, res, deps.log, state.closing));
  // With an API key on, the model's inputs and outputs are described only to a request carrying
  // it (the metadata routes need it too); without one the document is the generic description,
  // a wrong key is a 401. Swagger UI (/docs) loads it again with the key once the user authorizes.
  app.get('/openapi.json', (req, res) => {
    let model = state.model;
    try {
      deps.checkKey(req.headers);
    } catch (err) {
      if (presentedKey(req.headers) !== undefined) throw err;
      model = undefined;
    }
    res.json(openApiDocument(state.modelName, SERVER_VERSION, model));
  });
  // open: the page and Swagger UI's files hold nothing about the model
  app.use(docsRouter(state.modelName, deps.log));

  // API key from here on; each response counted
  const guarded = (protocol: ApiProtocol) => (req: Request, res: Response, next: NextFunction) => {
    if (admit(deps, protocol, req, res)) next();
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
    throw new HttpError(405, `method ${req.method} is not allowed on ${req.path}: use POST`);
  });
  app.use((req) => {
    throw notFound(`no route ${req.method} ${req.path}`);
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, err, { log: deps.log, closing: state.closing });
  });
  return app;
}
