// Each command: read from the API server, decide with the pure core, write, print.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { dump } from 'js-yaml';
import type { Command, OutputFormat } from './args.ts';
import { planControl } from './controls.ts';
import { CliError, EXIT_FAILURE, EXIT_OK, retryOnConflict, UsageError } from './errors.ts';
import type { ModelshipApi } from './kube.ts';
import {
  errorLine,
  formatResponse,
  checkRequestBody,
  requestFromBody,
  v1FromInstances,
  v2FromInstances,
  v2MetadataPath,
  type ModelMetadata,
} from './predict.ts';
import { renderHistory, renderStatus } from './render.ts';
import { modelName } from './types.ts';
import { planUndo } from './undo.ts';
import { watchVerdict } from './watch.ts';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

/** The Service port the operator names for the runtime's HTTP port (render/children.ts). */
const SERVICE_PORT_NAME = 'http';
const RUNTIME_CONTAINER = 'serve';

function print(io: Io, format: OutputFormat, value: unknown, text: () => string): void {
  if (format === 'json') io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else if (format === 'yaml') io.stdout.write(dump(value, { noRefs: true, lineWidth: -1 }));
  else io.stdout.write(text());
}

export async function runCommand(api: ModelshipApi, command: Exclude<Command, { kind: 'help' | 'version' }>, io: Io): Promise<number> {
  switch (command.kind) {
    case 'status':
      return command.watch
        ? watchStatus(api, command.name, command.intervalMs, command.timeoutMs, io)
        : status(api, command.name, command.output, io);
    case 'history': {
      const md = await api.getMd(command.name);
      print(io, command.output, md.status?.history ?? [], () => renderHistory(md, io.now()));
      return EXIT_OK;
    }
    case 'undo':
      return undo(api, command.name, command.toVersion, command.yes, io);
    case 'control': {
      const plan = await retryOnConflict(async () => {
        const p = planControl(await api.getMd(command.name), command.action);
        await api.patchMd(command.name, p.patch);
        return p;
      });
      if (plan.diff) io.stdout.write(`${plan.diff.join('\n')}\n`);
      io.stdout.write(`${plan.message}\n`);
      return EXIT_OK;
    }
    case 'predict':
      return predict(api, command, io);
    case 'logs':
      return logs(api, command, io);
  }
}

async function status(api: ModelshipApi, name: string, output: OutputFormat, io: Io): Promise<number> {
  const md = await api.getMd(name);
  print(io, output, md, () => renderStatus(md, io.now()));
  return EXIT_OK;
}

async function watchStatus(api: ModelshipApi, name: string, intervalMs: number, timeoutMs: number | undefined, io: Io): Promise<number> {
  const started = io.now().getTime();
  let lastKey = '';
  for (;;) {
    const md = await api.getMd(name);
    const key = JSON.stringify([md.metadata?.generation, md.spec.model, md.status]);
    if (io.stdout.isTTY) io.stdout.write(`\x1b[H\x1b[2J${renderStatus(md, io.now())}`);
    else if (key !== lastKey) io.stdout.write(`${lastKey ? '\n' : ''}${renderStatus(md, io.now())}`);
    lastKey = key;
    const verdict = watchVerdict(md);
    if (verdict.done) {
      if (verdict.ok) {
        io.stdout.write(`${verdict.message}\n`);
        return EXIT_OK;
      }
      io.stderr.write(`error: ${verdict.message}\n`);
      return EXIT_FAILURE;
    }
    if (timeoutMs !== undefined && io.now().getTime() - started >= timeoutMs) {
      io.stderr.write(`error: timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${verdict.waitingFor}\n`);
      return EXIT_FAILURE;
    }
    await io.sleep(intervalMs);
  }
}

async function confirm(io: Io, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stdout as NodeJS.WritableStream });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function undo(api: ModelshipApi, name: string, toVersion: string | undefined, yes: boolean, io: Io): Promise<number> {
  const md = await api.getMd(name);
  const plan = planUndo(md, toVersion);
  io.stdout.write(
    `modeldeployment.modelship.dev/${name}: roll back to version ${plan.to.version} (${plan.entry.outcome}, started ${plan.entry.startedAt})\n`,
  );
  io.stdout.write(`${plan.diff.join('\n')}\n`);
  if (!yes) {
    if (!io.stdin.isTTY) throw new UsageError(`not changing ${name} without confirmation: stdin is not a terminal; pass --yes`);
    if (!(await confirm(io, 'Apply this change? [y/N] '))) {
      io.stderr.write('error: not confirmed: nothing changed\n');
      return EXIT_FAILURE;
    }
  }
  await api.patchMd(name, plan.patch);
  io.stdout.write(
    `modeldeployment.modelship.dev/${name} spec.model set to version ${plan.to.version}; the operator rolls it out (kubectl modelship status ${name} --watch)\n`,
  );
  return EXIT_OK;
}

async function predict(api: ModelshipApi, c: Extract<Command, { kind: 'predict' }>, io: Io): Promise<number> {
  // the request is checked before anything is asked of the cluster
  let body: string | undefined;
  if (c.file !== undefined) {
    let text: string;
    try {
      text = c.file === '-' ? await readStream(io.stdin) : await readFile(c.file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${c.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    body = checkRequestBody(text, c.file === '-' ? 'stdin' : c.file, c.v1);
  }
  const md = await api.getMd(c.name);
  const model = modelName(md);
  const scheme = md.spec?.service?.tls ? 'https' : 'http';
  let req;
  if (body !== undefined) req = requestFromBody(body, model, c.v1);
  else if (c.v1) req = v1FromInstances(c.instances ?? [], model);
  else {
    const meta = await api.serviceProxy(c.name, SERVICE_PORT_NAME, 'GET', v2MetadataPath(model), undefined, scheme);
    if (meta.status !== 200) throw new CliError(`model metadata of ${model}: ${errorLine(meta.status, meta.body)}`);
    req = v2FromInstances(c.instances ?? [], model, JSON.parse(meta.body) as ModelMetadata);
  }
  const res = await api.serviceProxy(c.name, SERVICE_PORT_NAME, 'POST', req.path, req.body, scheme);
  if (res.status < 200 || res.status >= 300) {
    io.stderr.write(`error: ${errorLine(res.status, res.body)}\n`);
    return EXIT_FAILURE;
  }
  io.stdout.write(formatResponse(res.body, res.contentType));
  return EXIT_OK;
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of s) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

/** Passes a pod's log through to `out`, each line prefixed with the pod's name. */
function prefixed(out: NodeJS.WritableStream, prefix: string): Writable {
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length > 0) out.write(lines.map((l) => `${prefix}${l}\n`).join(''));
      done();
    },
    final(done) {
      if (partial) out.write(`${prefix}${partial}\n`);
      done();
    },
  });
}

async function logs(api: ModelshipApi, c: Extract<Command, { kind: 'logs' }>, io: Io): Promise<number> {
  await api.getMd(c.name);
  const pods = (await api.listPods(c.name, c.version)).filter((p) => p.metadata?.name);
  if (pods.length === 0)
    throw new CliError(`${c.name} has no pods${c.version !== undefined ? ` of version ${c.version}` : ''} in namespace ${api.namespace}`);
  const names = pods.map((p) => p.metadata?.name as string).sort();
  const prefix = (pod: string) => (names.length > 1 ? `[${pod}] ` : '');
  if (!c.follow) {
    for (const pod of names) {
      const text = await api.podLog(pod, RUNTIME_CONTAINER, c.tail);
      const sink = prefixed(io.stdout, prefix(pod));
      sink.end(text);
      await new Promise((r) => sink.on('finish', r));
    }
    return EXIT_OK;
  }
  await Promise.all(
    names.map(async (pod) => {
      const sink = prefixed(io.stdout, prefix(pod));
      const finished = new Promise((r) => sink.on('finish', r));
      await api.followPodLog(pod, RUNTIME_CONTAINER, c.tail, sink);
      await finished;
    }),
  );
  return EXIT_OK;
}
