import { type CloseManyReply, type CloseReply, type CloseRequest, SwarmError } from '@swarmshare/common';
import { CloseBatcher } from './close-batcher';

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

describe('CloseBatcher', () => {
  it('sends a lone close at once on the plain subject, and batches the closes made while requests are in flight', async () => {
    const { sent, sendOne, sendMany } = fakeStore();
    const b = new CloseBatcher(sendOne, sendMany, 2);
    const first = b.close({ leaseId: 'l1' });
    const second = b.close({ leaseId: 'l2' });
    const rest = ['l3', 'l4', 'l5'].map((leaseId) => b.close({ leaseId }));
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
    const b = new CloseBatcher(sendOne, sendMany, 1);
    const lone = b.close({ leaseId: 'l0' });
    const mixed = [b.close({ leaseId: 'l1' }), b.close({ leaseId: 'l2bad' })];
    sent[0].answer();
    await lone;
    await tick();
    sent[1].answer();
    const settled = await Promise.allSettled(mixed);
    expect(settled[0]).toMatchObject({ status: 'fulfilled', value: { leaseId: 'l1' } });
    expect(settled[1]).toMatchObject({ status: 'rejected', reason: { code: 'HASH_MISMATCH', message: 'l2bad failed' } });
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(SwarmError);

    const blocker = b.close({ leaseId: 'l3' });
    const doomed = [b.close({ leaseId: 'l4' }), b.close({ leaseId: 'l5' })];
    sent[2].answer();
    await blocker;
    await tick();
    sent[3].answer(new SwarmError('TIMEOUT', 'no reply on close.many'));
    for (const r of await Promise.allSettled(doomed)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'TIMEOUT' } });
  });

  it('refuses a reply with the wrong number of verdicts, and splits more closes than one request may carry', async () => {
    const sent: number[] = [];
    let short = true;
    const b = new CloseBatcher(
      async (req) => reply(req.leaseId),
      async (reqs) => {
        sent.push(reqs.length);
        const results = reqs.map((r) => ({ ok: true as const, result: reply(r.leaseId) }));
        return { results: short ? results.slice(1) : results };
      },
      1,
    );
    const first = b.close({ leaseId: 'l0' });
    const pair = [b.close({ leaseId: 'l1' }), b.close({ leaseId: 'l2' })];
    await first;
    for (const r of await Promise.allSettled(pair)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'PROTOCOL', message: expect.stringContaining('1 verdicts for 2 closes') } });

    short = false;
    const head = b.close({ leaseId: 'l0' });
    const many = Array.from({ length: 300 }, (_, i) => b.close({ leaseId: `l${i + 1}` }));
    await head;
    expect((await Promise.all(many)).length).toBe(300);
    expect(sent.slice(1)).toEqual([256, 44]);
  });
});
