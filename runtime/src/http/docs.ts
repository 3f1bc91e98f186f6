/**
 * GET /docs: Swagger UI of this runtime's /openapi.json, served from the swagger-ui-dist package
 * (no CDN: the page works in a cluster without internet access).
 *
 * Every URL in the page is relative (docs/..., openapi.json), so it works behind the Kubernetes
 * API server's service proxy (/api/v1/namespaces/<ns>/services/<svc>:<port>/proxy/docs) or any
 * other path prefix. Only a fixed allow-list of the package's files is served, under a path that
 * carries the package version: no file name from the request ever reaches the file system, and
 * the files can be cached for good. The configuration script is served by the runtime (the
 * Content-Security-Policy allows no inline script).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import express from 'express';
import { HttpError, notFound } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** The package's files the page uses, with their content types; nothing else is served. */
export const SWAGGER_UI_FILES: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/**
 * Swagger UI sets element styles from script (allowed: CSP does not govern the CSSOM) and its
 * stylesheet embeds its icons as data: URIs; it needs no inline <style> or script and no other
 * origin (the validator badge, which would call validator.swagger.io, is turned off in the
 * configuration script).
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DOCS_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': DOCS_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The package's files never change under one version: their URLs carry it. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page and the configuration script name the current version: always revalidated. */
export const REVALIDATE = 'no-cache';

export interface SwaggerUiDist {
  dir: string;
  version: string;
}

/** Where swagger-ui-dist is installed, or undefined when it is not (the rest of the runtime works without it). */
export function locateSwaggerUi(): SwaggerUiDist | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('swagger-ui-dist/package.json');
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
    return { dir: dirname(manifest), version };
  } catch {
    return undefined;
  }
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** The URL path (relative to /docs) of one of the package's files. */
export const assetPath = (version: string, file: string): string => `docs/assets/${version}/${file}`;

/** The page at /docs: relative URLs only (resolved against /docs, i.e. the parent of "docs/"). */
export function docsPage(modelName: string, version: string): string {
  const asset = (file: string) => escapeHtml(assetPath(version, file));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(modelName)} - Modelship inference runtime API</title>
<link rel="stylesheet" href="${asset('swagger-ui.css')}">
<link rel="icon" type="image/png" href="${asset('favicon-32x32.png')}" sizes="32x32">
<link rel="icon" type="image/png" href="${asset('favicon-16x16.png')}" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${asset('swagger-ui-bundle.js')}"></script>
<script src="docs/init.js"></script>
</body>
</html>
`;
}

/**
 * Swagger UI's configuration. The document is loaded from "openapi.json" next to /docs. With an
 * API key on, /openapi.json describes the model only to a request carrying the key, so the
 * document is loaded again with the key once the user authorizes (and without it on logout).
 */
export const DOCS_INIT_SCRIPT = `'use strict';
(function () {
  var specUrl = new URL('openapi.json', document.baseURI).href;
  var ui;
  function presentedKey() {
    if (!ui) return undefined;
    var auth = ui.authSelectors.authorized().toJS();
    if (auth.bearer && auth.bearer.value) return 'Bearer ' + auth.bearer.value;
    if (auth.apiKey && auth.apiKey.value) return auth.apiKey.value;
    return undefined;
  }
  function reloadDocument(ori, system) {
    return function () {
      var result = ori.apply(null, arguments);
      system.specActions.download(specUrl);
      return result;
    };
  }
  ui = SwaggerUIBundle({
    url: specUrl,
    dom_id: '#swagger-ui',
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
    deepLinking: false,
    defaultModelsExpandDepth: 0,
    requestInterceptor: function (req) {
      var key = req.loadSpec ? presentedKey() : undefined;
      if (key && key.indexOf('Bearer ') === 0) req.headers['Authorization'] = key;
      else if (key) req.headers['x-api-key'] = key;
      return req;
    },
    plugins: [
      function () {
        return { statePlugins: { auth: { wrapActions: { authorize: reloadDocument, logout: reloadDocument } } } };
      },
    ],
  });
})();
`;

export interface DocsAsset {
  body: Buffer;
  contentType: string;
}

/**
 * Serves the package's allow-listed files, each read once (the bundle is 1.7 MB: read on the
 * first request for it, not at start).
 */
export class SwaggerUiAssets {
  readonly dist: SwaggerUiDist;
  private readonly cache = new Map<string, Promise<Buffer>>();

  constructor(dist: SwaggerUiDist) {
    this.dist = dist;
  }

  /** 404 for a version other than the installed one or a file off the allow-list. */
  async get(version: string, file: string): Promise<DocsAsset> {
    const contentType = Object.hasOwn(SWAGGER_UI_FILES, file) ? SWAGGER_UI_FILES[file] : undefined;
    if (version !== this.dist.version || contentType === undefined) {
      throw notFound(`no Swagger UI file "${version}/${file}": this runtime serves swagger-ui-dist ${this.dist.version}`);
    }
    let body = this.cache.get(file);
    if (!body) {
      body = readFile(join(this.dist.dir, file));
      this.cache.set(file, body);
      // a failed read is not cached: the next request tries again
      body.catch(() => this.cache.delete(file));
    }
    try {
      return { body: await body, contentType };
    } catch {
      throw new HttpError(500, `Swagger UI file "${file}" cannot be read`);
    }
  }
}

/** The headers of every /docs answer. */
export function docsHeaders(contentType: string, cacheControl: string, length: number): Record<string, string> {
  return { ...DOCS_HEADERS, 'Content-Type': contentType, 'Cache-Control': cacheControl, 'Content-Length': String(length) };
}

/**
 * The /docs routes. Without swagger-ui-dist installed they answer 404 naming the missing
 * package; inference and the rest of the API do not depend on it.
 */
export function docsRouter(modelName: string, log: Logger, dist: SwaggerUiDist | undefined = locateSwaggerUi()): express.Router {
  const router = express.Router({ strict: true });
  if (!dist) {
    log.warn('Swagger UI is off: the swagger-ui-dist package is not installed', { path: '/docs' });
    router.get(/^\/docs(\/.*)?$/, () => {
      throw notFound('Swagger UI is not available: the swagger-ui-dist package is not installed in this runtime');
    });
    return router;
  }
  const assets = new SwaggerUiAssets(dist);
  const page = Buffer.from(docsPage(modelName, dist.version));
  const init = Buffer.from(DOCS_INIT_SCRIPT);
  const send = (res: express.Response, contentType: string, cacheControl: string, body: Buffer) => {
    res.writeHead(200, docsHeaders(contentType, cacheControl, body.length));
    res.end(body);
  };
  router.get('/docs', (_req, res) => send(res, 'text/html; charset=utf-8', REVALIDATE, page));
  // relative, so it also works under a path prefix; from "/docs/" the page's relative URLs would miss
  router.get('/docs/', (_req, res) => {
    res.setHeader('Cache-Control', REVALIDATE);
    res.redirect(301, '../docs');
  });
  router.get('/docs/init.js', (_req, res) => send(res, 'text/javascript; charset=utf-8', REVALIDATE, init));
  router.get('/docs/assets/:version/:file', async (req, res) => {
    const asset = await assets.get(req.params['version'] as string, req.params['file'] as string);
    send(res, asset.contentType, IMMUTABLE, asset.body);
  });
  return router;
}
