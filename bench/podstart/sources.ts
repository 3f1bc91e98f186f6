/**
 * Where the benchmark's pods fetch the model from: one entry per source. Each puts the model
 * where its server serves it to pods (on the node's bridge gateway, as the e2e tests do) and
 * counts the full downloads its server answered, which tells whether a second pod of the same
 * version fetched the model again (SeaweedFS does not tell: there every pod's fetch log says so).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_IP } from '@modelship/devcluster/network';
import { startModelServer } from '@modelship/devcluster/model-server';
import { orasPush, resolveOras, startRegistry } from '@modelship/devcluster/oci-registry';
import { adminAndReader, startS3Server } from '@modelship/devcluster/s3-server';
import type { BenchModel } from './model.ts';

export interface SourceContext {
  /** scratch directory for the source's server state */
  dir: string;
  /** creates an Opaque Secret in the benchmark's namespace (for a source's credentials) */
  createSecret(name: string, stringData: Record<string, string>): Promise<void>;
  log: (line: string) => void;
}

export interface PreparedSource {
  /** spec.model without version (uri, sha256 and the source's own fields) */
  model: Record<string, unknown>;
  /** full model downloads the server has answered so far (NaN: the server does not tell) */
  downloads(): number;
  stop(): Promise<void>;
}

export interface Source {
  /** short name: the table's row, the ModelDeployment's name prefix */
  name: string;
  /** `big` (the generated model) or `tiny` (iris) */
  model: 'big' | 'tiny';
  prepare(model: BenchModel, ctx: SourceContext): Promise<PreparedSource>;
}

/** http:// from a static file server on the node (devcluster's model server, in this process). */
function httpSource(name: string, kind: Source['model']): Source {
  return {
    name,
    model: kind,
    async prepare(model, ctx) {
      const root = join(ctx.dir, name);
      mkdirSync(join(root, 'm'), { recursive: true });
      copyFileSync(model.path, join(root, 'm', 'model.onnx'));
      const server = await startModelServer({ root, host: GATEWAY_IP });
      ctx.log(`${name}: model server ${server.url}`);
      return {
        model: { uri: `${server.url}/m/model.onnx`, sha256: model.sha256 },
        downloads: () => server.hits.get('/m/model.onnx') ?? 0,
        stop: () => server.close(),
      };
    },
  };
}

/** oci:// from distribution's registry on the node, the model pushed with the ORAS CLI (as oci.test.ts does). */
const oci: Source = {
  name: 'oci',
  model: 'big',
  async prepare(model, ctx) {
    const dir = join(ctx.dir, 'oci');
    mkdirSync(join(dir, 'push'), { recursive: true });
    const [oras, registry] = await Promise.all([resolveOras(ctx.log), startRegistry({ dir, address: GATEWAY_IP, log: ctx.log })]);
    copyFileSync(model.path, join(dir, 'push', 'model.onnx'));
    const reference = `${registry.host}/models/big:1`;
    const digest = await orasPush({
      oras,
      dir,
      reference,
      files: [{ path: join(dir, 'push', 'model.onnx'), mediaType: 'application/vnd.onnx' }],
    });
    ctx.log(`oci: pushed ${reference} (${digest})`);
    // the registry's access log (Apache combined format): one line per answered blob GET
    const blobGet = new RegExp(`"GET /v2/models/big/blobs/sha256:${model.sha256} [^"]*" 200 `, 'g');
    return {
      model: { uri: `oci://${reference}`, sha256: model.sha256, plainHTTP: true },
      downloads: () => readFileSync(registry.logPath, 'utf8').match(blobGet)?.length ?? 0,
      stop: () => registry.stop(),
    };
  },
};

/** s3:// from SeaweedFS's S3 gateway on the node (signed requests), uploaded with the AWS SDK, read with an Opaque credentials Secret (as s3.test.ts does). */
const s3: Source = {
  name: 's3',
  model: 'big',
  async prepare(model, ctx) {
    const { admin, reader } = adminAndReader('models');
    const server = await startS3Server({ dir: join(ctx.dir, 's3'), address: GATEWAY_IP, identities: [admin, reader], log: ctx.log });
    await server.createBucket('models');
    await server.putObject('models', 'big/1/model.onnx', readFileSync(model.path));
    await ctx.createSecret('s3cred', { AWS_ACCESS_KEY_ID: reader.accessKeyId, AWS_SECRET_ACCESS_KEY: reader.secretAccessKey });
    ctx.log(`s3: uploaded s3://models/big/1/model.onnx to ${server.endpoint}`);
    return {
      model: {
        uri: 's3://models/big/1/model.onnx',
        sha256: model.sha256,
        s3: { endpoint: server.endpoint },
        credentialsSecretRef: { name: 's3cred' },
      },
      // SeaweedFS logs no per-request line: each pod's fetch log ("model fetched", sha256 verified) shows its download
      downloads: () => NaN,
      stop: () => server.stop(),
    };
  },
};

export const SOURCES: readonly Source[] = [
  // the baseline: what a pod start costs without a download to speak of (iris, 506 bytes)
  httpSource('http-tiny', 'tiny'),
  httpSource('http', 'big'),
  oci,
  s3,
];
