import { type CloseManyReply, type CloseReply, type CloseRequest, MAX_CLOSES_PER_REQUEST, SwarmError } from '@swarmshare/common';
import { RequestBatcher } from './request-batcher';

const batcher = (one: (q: CloseRequest) => Promise<CloseReply>, many: (qs: CloseRequest[]) => Promise<CloseManyReply>, inFlight: number) =>
  new RequestBatcher<CloseRequest, CloseReply>(one, many, MAX_CLOSES_PER_REQUEST, inFlight);

const reply = (leaseId: string): CloseReply => ({ leaseId, fileId: 'ab'.repeat(32), index: Number(leaseId.slice(1)), available: true, fileComplete: false });

/** A store whose requests stay open until the test lets them go, recording what was sent. */
function fakeStore() {
  const sent: Array<{ kind: 'one' | 'many'; leaseIds: string[]; answer(fail?: unknown): void }> = [];
  const sendOne = (req: CloseRequest) =>
    new Promise<CloseReply>((resolve, reject) => sent.push({ kind: 'one', leaseIds: [req.leaseId], answer: (fail) => (fail ? reject(fail) : resolve(reply(req.leaseId))) }));
  const sendMany = (reqs: CloseRequest[]) =>
    new Promise<CloseManyReply>((resolve, reject) =>
      sent.push({
        kind: 'many',
        leaseIds: reqs.map((r) => r.leaseId),
        answer: (fail) =>
          fail
            ? reject(fail)
            : resolve({ results: reqs.map((r) => (r.leaseId.endsWith('bad') ? { ok: false as const, error: { code: 'HASH_MISMATCH' as const, message: `${r.leaseId} failed` } } : { ok: true as const, result: reply(r.leaseId) })) }),
      }),
    );
  return { sent, sendOne, sendMany };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('RequestBatcher (closes)', () => {
  it('sends a lone close at once on the plain subject, and batches the closes made while requests are in flight', async () => {
    const { sent, sendOne, sendMany } = fakeStore();
    const b = batcher(sendOne, sendMany, 2);
    const first = b.request({ leaseId: 'l1' });
    const second = b.request({ leaseId: 'l2' });
    const rest = ['l3', 'l4', 'l5'].map((leaseId) => b.request({ leaseId }));
    expect(sent.map((x) => [x.kind, x.leaseIds])).toEqual([
      ['one', ['l1']],
      ['one', ['l2']],
    ]);
    expect(b.queued).toBe(3);
    sent[0].answer();
    expect(await first).toMatchObject({ leaseId: 'l1' });
    await tick();
    expect(sent[2]).toMatchObject({ kind: 'many', leaseIds: ['l3', 'l4', 'l5'] });
    sent[2].answer();
    expect((await Promise.all(rest)).map((r) => r.leaseId)).toEqual(['l3', 'l4', 'l5']);
    sent[1].answer();
    expect(await second).toMatchObject({ leaseId: 'l2' });
  });

  it('gives each close its own verdict, and fails every close of a request that failed as a whole', async () => {
    const { sent, sendOne, sendMany } = fakeStore();
    const b = batcher(sendOne, sendMany, 1);
    const lone = b.request({ leaseId: 'l0' });
    const mixed = [b.request({ leaseId: 'l1' }), b.request({ leaseId: 'l2bad' })];
    sent[0].answer();
    await lone;
    await tick();
    sent[1].answer();
    const settled = await Promise.allSettled(mixed);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { leaseId: 'l1' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'HASH_MISMATCH', message: 'l2bad failed' } });
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(SwarmError);

    const blocker = b.request({ leaseId: 'l3' });
    const doomed = [b.request({ leaseId: 'l4' }), b.request({ leaseId: 'l5' })];
    sent[2].answer();
    await blocker;
    await tick();
    sent[3].answer(new SwarmError('TIMEOUT', 'no reply on close.many'));
    for (const r of await Promise.allSettled(doomed)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'TIMEOUT' } });
  });

  it('refuses a reply with the wrong number of verdicts, and splits more closes than one request may carry', async () => {
    const sent: number[] = [];
    let short = true;
    const b = batcher(
      async (req) => reply(req.leaseId),
      async (reqs) => {
        sent.push(reqs.length);
        const results = reqs.map((r) => ({ ok: true as const, result: reply(r.leaseId) }));
        return { results: short ? results.slice(1) : results };
      },
      1,
    );
    const first = b.request({ leaseId: 'l0' });
    const pair = [b.request({ leaseId: 'l1' }), b.request({ leaseId: 'l2' })];
    await first;
    for (const r of await Promise.allSettled(pair)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'PROTOCOL', message: expect.stringContaining('1 verdicts for 2 requests') } });

    short = false;
    const head = b.request({ leaseId: 'l0' });
    const many = Array.from({ length: 300 }, (_, i) => b.request({ leaseId: `l${i + 1}` }));
    await head;
    expect((await Promise.all(many)).length).toBe(300);
    expect(sent.slice(1)).toEqual([256, 44]);
  });
});
