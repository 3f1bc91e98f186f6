// A real S3-compatible server for the tests of s3:// model sources: SeaweedFS (`weed mini`: master,
// volume server, filer and S3 gateway in one process; devcluster/build/seaweedfs.sh builds it from
// its Go module) with an identities file, so every request is signed and checked (SigV4) and an
// unknown key or a wrong secret is refused as S3 refuses it. Buckets and objects are made through
// the S3 API with the AWS SDK, the way a user would upload a model.

import { CreateBucketCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, runBuildScript } from './binaries.ts';
import { freePorts } from './ports.ts';
import { assertRunning, spawnStandalone, tail } from './processes.ts';
import { waitFor } from './wait.ts';

/** Absolute path of the weed binary, building it if needed (minutes the first time; flock-serialised). */
export const resolveSeaweedfs = (log: (line: string) => void = () => {}): Promise<string> =>
  runBuildScript(join(repoRoot, 'devcluster/build/seaweedfs.sh'), 'weed', log);

export interface S3Identity {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** SeaweedFS actions: "Admin", "Read", "Write", "List", optionally scoped ("Read:bucket") */
  actions: string[];
}

/**
 * What every user of this server starts it with: an admin that creates the bucket and uploads, and a
 * reader of that one bucket (the model's credentials). Fresh random keys each call, so a test can look
 * for the secrets in logs and outputs without ever matching a constant that sits elsewhere.
 */
export function adminAndReader(bucket: string): { admin: S3Identity; reader: S3Identity } {
  const key = () => randomBytes(8).toString('hex').toUpperCase();
  const secret = () => randomBytes(18).toString('base64url');
  return {
    admin: { name: 'admin', accessKeyId: key(), secretAccessKey: secret(), actions: ['Admin', 'Read', 'Write', 'List'] },
    reader: { name: 'reader', accessKeyId: key(), secretAccessKey: secret(), actions: [`Read:${bucket}`, `List:${bucket}`] },
  };
}

export interface S3ServerOptions {
  /** state and logs go here */
  dir: string;
  /** address the server listens on and advertises (default 127.0.0.1) */
  address?: string;
  /** the identities the gateway accepts; the first must hold "Admin" (it creates buckets and objects) */
  identities: S3Identity[];
  log?: (line: string) => void;
}

export interface S3Server {
  /** http://host:port, the S3 API endpoint */
  endpoint: string;
  logPath: string;
  /** a path-style client for `identity` (default: the first, admin identity) */
  client(identity?: S3Identity): S3Client;
  createBucket(bucket: string): Promise<void>;
  putObject(bucket: string, key: string, body: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Server(o: S3ServerOptions): Promise<S3Server> {
  const log = o.log ?? (() => {});
  const admin = o.identities[0];
  if (!admin?.actions.includes('Admin')) throw new Error('startS3Server: the first identity must hold "Admin"');
  const bin = await resolveSeaweedfs(log);
  const address = o.address ?? '127.0.0.1';
  // every listener on a port of its own, so parallel runs never collide on SeaweedFS's defaults
  const [s3, s3Grpc, master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, adminPort, adminGrpc] = await freePorts(10);
  const root = join(o.dir, `seaweedfs-${s3}`);
  mkdirSync(join(root, 'data'), { recursive: true });
  const config = join(root, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: o.identities.map((i) => ({
        name: i.name,
        credentials: [{ accessKey: i.accessKeyId, secretKey: i.secretAccessKey }],
        actions: i.actions,
      })),
    }),
    { mode: 0o600 },
  );
  const args = [
    // glog: to stderr (seaweedfs.log) only; by default it also leaves files in /tmp
    '-logtostderr',
    'mini',
    `-dir=${join(root, 'data')}`,
    `-ip=${address}`,
    `-ip.bind=${address}`,
    `-s3.config=${config}`,
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-s3.iam=false',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    // the tests reach nothing but this machine
    '-master.telemetry=false',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${join(root, 'filer.sock')}`,
    `-s3.localSocket=${join(root, 's3.sock')}`,
    '-webdav=false',
    '-admin.ui=false',
    // the admin server runs even without its UI (on loopback): its own ports, and no legacy fixed one
    `-admin.port=${adminPort}`,
    `-admin.port.grpc=${adminGrpc}`,
    '-admin.port.legacy=0',
  ];
  const { proc, stop } = spawnStandalone('seaweedfs', bin, args, join(root, 'seaweedfs.log'), { env: { ...process.env, HOME: root } });
  const endpoint = `http://${address}:${s3}`;
  const client = (identity: S3Identity = admin): S3Client =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey },
    });
  const adminClient = client();
  try {
    // up = the gateway answers a signed request of its own (ListBuckets), which needs the filer too
    await waitFor(
      async () => {
        assertRunning(proc);
        const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        await res?.body?.cancel();
        if (res === undefined) return false;
        return adminClient.send(new ListBucketsCommand({})).then(
          () => true,
          () => false,
        );
      },
      { timeoutMs: 90_000, intervalMs: 300, description: `SeaweedFS S3 gateway on ${endpoint}` },
    );
  } catch (err) {
    const logText = await tail(proc.logPath);
    adminClient.destroy();
    await stop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${proc.logPath} ends with:\n${logText}`, { cause: err });
  }
  log(`SeaweedFS S3 gateway ${endpoint} up (pid ${proc.pid}, ${o.identities.length} identities)`);
  return {
    endpoint,
    logPath: proc.logPath,
    client,
    async createBucket(bucket) {
      await adminClient.send(new CreateBucketCommand({ Bucket: bucket }));
    },
    async putObject(bucket, key, body) {
      await adminClient.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async stop() {
      adminClient.destroy();
      await stop();
    },
  };
}
