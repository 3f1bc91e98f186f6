// Run inside a pod's network namespace (faults.ts exitWorkerThread, via nsenter) after the pod's
// Node.js process got SIGUSR1: connects to its inspector on 127.0.0.1:9229, attaches to the first
// worker thread (NodeWorker domain) and evaluates `process.exit(70)` in it, which ends that worker
// thread only. Prints the worker's title; exits non-zero if there is no worker or no inspector.
import { setTimeout as sleep } from 'node:timers/promises';

const INSPECTOR = 'http://127.0.0.1:9229';

async function debuggerUrl(): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      const targets = (await (await fetch(`${INSPECTOR}/json/list`)).json()) as Array<{ webSocketDebuggerUrl?: string }>;
      const url = targets[0]?.webSocketDebuggerUrl;
      if (url) return url;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`no inspector at ${INSPECTOR}: ${String(last)}`);
}

const ws = new WebSocket(await debuggerUrl());
const report = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no worker thread attached within 10 s')), 10_000);
  let target: { sessionId: string; title: string } | undefined;
  ws.addEventListener('error', () => reject(new Error('inspector connection failed')));
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ id: 1, method: 'NodeWorker.enable', params: { waitForDebuggerOnStart: false } }));
  });
  ws.addEventListener('message', (ev: MessageEvent) => {
    const msg = JSON.parse(String(ev.data)) as {
      method?: string;
      params?: { sessionId?: string; workerInfo?: { title?: string } };
    };
    if (msg.method === 'NodeWorker.attachedToWorker' && !target && msg.params?.sessionId) {
      target = { sessionId: msg.params.sessionId, title: msg.params.workerInfo?.title ?? '?' };
      const evaluate = { id: 1, method: 'Runtime.evaluate', params: { expression: 'process.exit(70)' } };
      ws.send(
        JSON.stringify({
          id: 2,
          method: 'NodeWorker.sendMessageToWorker',
          params: { sessionId: target.sessionId, message: JSON.stringify(evaluate) },
        }),
      );
    } else if (msg.method === 'NodeWorker.detachedFromWorker' && target && msg.params?.sessionId === target.sessionId) {
      clearTimeout(timer);
      resolve(`worker thread "${target.title}" exited`);
    }
  });
});
ws.close();
process.stdout.write(`${report}\n`);
