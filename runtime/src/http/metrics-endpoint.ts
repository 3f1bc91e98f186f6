/** GET /metrics, on the API port (express) or on its own port (server.ts): the Prometheus text. */
import type { ServerResponse } from 'node:http';
import { errorMessage, HttpError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from './metrics.ts';
import { sendError } from './respond.ts';

export function sendMetrics(metrics: Metrics, res: ServerResponse, log: Logger, closing: boolean): void {
  metrics.text().then(
    (text) => {
      res.writeHead(200, { 'Content-Type': metrics.contentType });
      res.end(text);
    },
    (err: unknown) => sendError(res, new HttpError(500, `cannot collect metrics: ${errorMessage(err)}`), { log, closing }),
  );
}
