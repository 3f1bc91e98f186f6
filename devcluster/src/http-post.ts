// Plain HTTP(S) calls for e2e tests (no keep-alive: each call is one fresh connection).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

export interface Reply {
  status: number;
  body: string;
}

export function post(url: string, body: unknown, tls?: { cpDir: string }, timeoutMs = 10_000): Promise<Reply> {
  const u = new URL(url);
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const pki = tls && join(tls.cpDir, 'pki');
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        ...(pki
          ? { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) }
          : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: timeout`)));
    req.on('error', reject);
    req.end(data);
  });
}

/** Runs the real `curl` binary (the README's TF-Serving example); resolves with its stdout. */
export function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
