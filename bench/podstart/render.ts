/**
 * Writes bench/podstart/results/<stem>.md again from <stem>.json (default stem: latest), with the
 * table as summary.ts draws it now: `node bench/podstart/render.ts [stem]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resultsMarkdown, type Repetition } from './summary.ts';

const stem = process.argv[2] ?? 'latest';
if (!/^[\w.-]+$/.test(stem)) throw new Error('the stem is a file name (letters, digits, ".", "-", "_")');
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
const results = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8')) as { startedAt: string; repetitions: Repetition[] };
writeFileSync(join(dir, `${stem}.md`), resultsMarkdown(results.startedAt, results.repetitions));
process.stdout.write(`${join(dir, `${stem}.md`)}\n`);
