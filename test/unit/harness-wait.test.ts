import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@modelship/devcluster/wait';

describe('waitFor', () => {
  it('returns the first value that is not undefined or false', async () => {
    let calls = 0;
    const v = await waitFor(async () => (++calls < 3 ? (calls === 1 ? undefined : false) : { calls }), {
      intervalMs: 1,
      description: 'third call',
    });
    assert.deepEqual(v, { calls: 3 });
  });

  it('treats 0, "" and null as values', async () => {
    assert.equal(await waitFor(async () => 0, { description: 'zero' }), 0);
    assert.equal(await waitFor(async () => '', { description: 'empty' }), '');
    assert.equal(await waitFor(async () => null, { description: 'null' }), null);
  });

  it('retries rejections and names the description and last error on timeout', async () => {
    await assert.rejects(
      waitFor(
        async () => {
          throw new Error('still 404');
        },
        { timeoutMs: 50, intervalMs: 5, description: 'the widget' },
      ),
      (err: Error) => /waiting for the widget/.test(err.message) && /still 404/.test(err.message),
    );
  });

  it('does not overrun the timeout when an attempt hangs', async () => {
    const started = Date.now();
    await assert.rejects(
      waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 100, description: 'a hanging call' }),
      /timed out after \d+ ms \(1 attempts\) waiting for a hanging call/,
    );
    assert.ok(Date.now() - started < 1_000);
  });

  it('starts no attempt at the deadline, so the last real error is the one reported', async () => {
    let attempts = 0;
    await assert.rejects(
      waitFor(
        async () => {
          attempts++;
          await new Promise((r) => setTimeout(r, 20));
          throw new Error(`still 404 (attempt ${attempts})`);
        },
        { timeoutMs: 100, intervalMs: 40, description: 'the widget' },
      ),
      (err: Error) => /still 404/.test(err.message) && !/still running/.test(err.message),
    );
  });
});
