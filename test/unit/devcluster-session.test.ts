// The dev cluster's one process/clean-up mechanism (devcluster/src/processes.ts Session), with real
// child processes (/bin/sleep): stop order, tear-down hooks, the state file another process attaches
// to (the CLI's `down`), and reaping the leftovers of an owner that died without cleaning up.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  STATE_FILE,
  Session,
  isAlive,
  readSessionState,
  reapStaleSessions,
  spawnLogged,
  type SessionState,
  type Teardown,
} from '@modelship/devcluster/processes';

const PREFIX = `modelship-unit-session-${process.pid}-`;
const SLEEP = '/bin/sleep';

function recorder(): { events: string[]; teardown: Teardown<{ note: string }> } {
  const events: string[] = [];
  return {
    events,
    teardown: {
      graceful: async (state, procs) => {
        events.push(`graceful:${state.note}:${procs.map((p) => p.name).join(',')}:${procs.every((p) => isAlive(p.pid))}`);
      },
      force: (state) => {
        events.push(`force:${state.note}`);
      },
    },
  };
}

describe('devcluster Session', () => {
  it('records each process and what components report; stop runs graceful, stops all, then force, removes the dir', async () => {
    const { events, teardown } = recorder();
    const s = await Session.create<{ note: string }>({ prefix: PREFIX, teardown });
    const a = await s.spawn('first', SLEEP, ['60']);
    const b = await s.spawn('second', SLEEP, ['60']);
    await s.record({ note: 'n1' });
    const state = readSessionState<{ note: string }>(s.dir);
    assert.deepEqual(
      state?.processes.map((p) => [p.name, p.pid]),
      [
        ['first', a.pid],
        ['second', b.pid],
      ],
    );
    assert.equal(state?.note, 'n1');
    assert.equal(state?.ownerPid, process.pid);
    assert.ok(existsSync(join(s.dir, 'logs', 'first.log')));
    await s.stop();
    assert.deepEqual(events, ['graceful:n1:first,second:true', 'force:n1']);
    assert.ok(!isAlive(a.pid) && !isAlive(b.pid));
    assert.ok(!existsSync(s.dir));
    await s.stop(); // idempotent
    assert.equal(events.length, 2);
  });

  it('waitHealthy fails at once, with the log, when the process exits', async () => {
    const s = await Session.create({ prefix: PREFIX });
    try {
      const p = await s.spawn('dies', '/bin/sh', ['-c', 'echo boom-from-the-log; exit 3']);
      const t0 = Date.now();
      await assert.rejects(
        s.waitHealthy(p, 'never', async () => false, 30_000),
        (err: Error) => /dies exited \(3\)/.test(err.message) && /boom-from-the-log/.test(err.message),
      );
      assert.ok(Date.now() - t0 < 10_000);
    } finally {
      await s.stop();
    }
  });

  it('another process attaches to the state file and stops exactly the recorded processes (the CLI down)', async () => {
    const { events, teardown } = recorder();
    const owner = await Session.create<{ note: string }>({ prefix: PREFIX, detached: true });
    const p = await owner.spawn('detached', SLEEP, ['60']);
    await owner.record({ note: 'd' });
    await owner.ready(); // detached: no longer stopped when this process exits
    const bystander = spawnLogged('not-recorded', SLEEP, ['60'], '/dev/null');
    try {
      await Session.attach<{ note: string }>(owner.dir, { teardown }).stop();
      assert.ok(!isAlive(p.pid));
      assert.ok(isAlive(bystander.pid), 'a process the session did not record is left alone');
      assert.deepEqual(events, ['graceful:d:detached:true', 'force:d']);
      assert.ok(!existsSync(owner.dir));
    } finally {
      bystander.child?.kill('SIGKILL');
    }
  });

  it('reaps a session whose owner died (no exit hook ran), but not a detached one', () => {
    const { events, teardown } = recorder();
    const dead = spawnSync('/bin/true').pid!; // has exited: a dead owner
    const make = (detached: boolean, note: string) => {
      const dir = mkdtempSync(join(tmpdir(), PREFIX));
      mkdirSync(join(dir, 'logs'));
      const p = spawnLogged('leftover', SLEEP, ['60'], join(dir, 'logs', 'leftover.log'));
      const state: SessionState & { note: string } = {
        version: 2,
        kind: PREFIX,
        ownerPid: dead,
        detached,
        dir,
        processes: [{ name: p.name, bin: p.bin, pid: p.pid, logPath: p.logPath }],
        note,
      };
      writeFileSync(join(dir, STATE_FILE), JSON.stringify(state));
      return { dir, p };
    };
    const orphan = make(false, 'orphan');
    const kept = make(true, 'kept');
    try {
      reapStaleSessions(PREFIX, teardown, () => {});
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let i = 0; i < 50 && isAlive(orphan.p.pid); i++) Atomics.wait(pause, 0, 0, 20);
      assert.ok(!isAlive(orphan.p.pid));
      assert.ok(!existsSync(orphan.dir));
      assert.deepEqual(events, ['force:orphan']);
      assert.ok(isAlive(kept.p.pid), 'a detached session outlives its owner');
    } finally {
      kept.p.child?.kill('SIGKILL');
      orphan.p.child?.kill('SIGKILL');
      spawnSync('rm', ['-rf', kept.dir, orphan.dir]);
    }
  });
});
