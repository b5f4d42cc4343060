/**
 * Request fields copied into logs are truncated (issue 11): a real tracker (from dist) that fails a
 * request carrying a 900 KB field logs a line of a few KB that says how much was cut, not 900 KB.
 */
import { z } from 'zod';
import { NatsRpc, TrackerSubjects, connectNats } from '@swarmshare/common';
import type { NatsConnection } from 'nats';
import { type RunningService, startService } from '../support/services';

describe('log lines do not grow with requests (real tracker)', () => {
  let tracker: RunningService;
  let nc: NatsConnection;

  beforeAll(async () => {
    tracker = await startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, LOG_FIELD_MAX_CHARS: '1000' });
    nc = await connectNats(process.env.NATS_URL!, 'log-bounds-test');
  });

  afterAll(async () => {
    await tracker?.stop();
    await nc?.close();
  });

  it('a 900 KB file id is refused, and the warning that quotes it is cut to LOG_FIELD_MAX_CHARS', async () => {
    const fileId = 'f'.repeat(900 * 1024);
    await expect(new NatsRpc(nc, 10_000).request(TrackerSubjects.getFile, { fileId }, z.unknown())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const line = await tracker.waitForLog((l) => l.outcome === 'BAD_REQUEST' && typeof l.fileId === 'string' && l.fileId.startsWith('fff'));
    expect(line.fileId).toBe(`${'f'.repeat(1000)}…[${900 * 1024 - 1000} more chars]`);
    // No line the tracker wrote comes near the request's size.
    expect(Math.max(...tracker.logs.map((l) => JSON.stringify(l).length))).toBeLessThan(8 * 1024);
  });

  it('a bad LOG_FIELD_MAX_CHARS stops the service at start-up, naming the variable', async () => {
    await expect(startService('tracker', { NATS_URL: process.env.NATS_URL!, REDIS_URL: process.env.REDIS_URL!, LOG_FIELD_MAX_CHARS: '10' })).rejects.toThrow(/LOG_FIELD_MAX_CHARS: must be at least 64/);
  });
});
