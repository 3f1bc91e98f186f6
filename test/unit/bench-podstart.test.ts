// The pod-start benchmark's pure parts: reading when a container logged a message from a kubelet
// container log, and the medians of its table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loggedAtIn } from '../../bench/podstart/log-times.ts';
import { median, summaryTable, type PodStart, type Repetition } from '../../bench/podstart/summary.ts';

test('loggedAtIn: the winston timestamp of the first JSON line with that message, in CRI log format', () => {
  const log = [
    '2026-11-30T16:00:00.100000000Z stdout F {"level":"info","message":"starting","timestamp":"2026-11-30T16:00:00.099Z"}',
    '2026-11-30T16:00:01.000000000Z stdout P {"level":"info","message":"model fe',
    '2026-11-30T16:00:01.000000000Z stdout F tched"}',
    '2026-11-30T16:00:02.500000000Z stdout F {"level":"info","message":"model fetched","sha256":"ab","timestamp":"2026-11-30T16:00:02.498Z"}',
    '2026-11-30T16:00:03.000000000Z stdout F {"level":"info","message":"model fetched","timestamp":"2026-11-30T16:00:03.000Z"}',
    '',
  ].join('\n');
  assert.equal(loggedAtIn(log, 'model fetched'), Date.parse('2026-11-30T16:00:02.498Z'));
  assert.equal(loggedAtIn(log, 'ready'), undefined);
  assert.equal(loggedAtIn('x stdout F {"message":"ready","timestamp":"not a time"}', 'ready'), undefined);
});

test('median: the middle value, or the mean of the two middle ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('summaryTable: one row per source, median (min–max) seconds, downloads per pod', () => {
  const pod = (ms: number, downloads: number): PodStart => ({
    pod: 'p',
    toCreated: 100,
    createdToFetched: ms / 2,
    fetchedToRuntimeReady: ms / 4,
    runtimeReadyToPodReady: 1000,
    createdToPodReady: ms,
    toPodReady: ms,
    downloads,
  });
  const rep = (source: string, rep: number, ms: number): Repetition => ({
    source,
    model: 'big',
    modelBytes: 99_924_431,
    rep,
    first: pod(ms, 1),
    applyToMdReady: ms + 500,
    second: pod(ms / 2, 1),
  });
  const table = summaryTable([
    rep('http', 1, 10_000),
    rep('oci', 1, 20_000),
    rep('http', 2, 14_000),
    rep('http', 3, 11_000),
    rep('oci', 2, 22_000),
    rep('oci', 3, 21_000),
  ]);
  const rows = table.split('\n').filter((l) => l.startsWith('| http') || l.startsWith('| oci'));
  assert.equal(rows.length, 2);
  assert.match(rows[0]!, /^\| http \| big \(99\.9 MB\) \| 11\.0 \(10\.0–14\.0\) \| 0\.1 \(0\.1–0\.1\) \|/);
  assert.match(rows[1]!, /^\| oci \| .* \| 21\.0 \(20\.0–22\.0\) \|/);
  // created → runtime ready over the 6 pods: 3.75, 4.125, 5.25, 7.5, 8.25, 10.5 s
  assert.match(rows[0]!, /\| 6\.4 \(3\.8–10\.5\) \| 1 \/ 1 \|$/);
  assert.match(table, /median \(min–max\) of 3 repetitions \(the last column: of the 6 pods\)/);
});

test('summaryTable: a source whose server does not count downloads shows n/a', () => {
  const pod: PodStart = {
    pod: 'p',
    toCreated: 1,
    createdToFetched: 1,
    fetchedToRuntimeReady: 1,
    runtimeReadyToPodReady: 1,
    createdToPodReady: 1,
    toPodReady: 1,
    // NaN here; null once the JSON results are read back
    downloads: NaN,
  };
  const table = summaryTable([{ source: 's3', model: 'big', modelBytes: 2e6, rep: 1, first: pod, applyToMdReady: 1, second: pod }]);
  assert.match(table, /^\| s3 \| big \(2\.0 MB\) \| 0\.0 \|.*\| n\/a \/ n\/a \|$/m);
  const fromJson = JSON.parse(
    JSON.stringify({ source: 's3', model: 'big', modelBytes: 2e6, rep: 1, first: pod, applyToMdReady: 1, second: pod }),
  ) as Repetition;
  assert.equal(fromJson.first.downloads, null);
  assert.match(summaryTable([fromJson]), /\| n\/a \/ n\/a \|$/m);
});
