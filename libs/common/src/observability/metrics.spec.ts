import { promSample } from '../../../../test/support/prometheus';
import type { RequestStats } from '../nats/micro-server';
import { CappedLabelValues, Metrics, METRIC_NAMES, OTHER_PEERS_LABEL } from './metrics';

/** Exactly these labels: a series with more labels must not satisfy an assertion. */
const sample = (text: string, name: string, labels: Record<string, string>) => promSample(text, name, labels, { exact: true });

describe('Metrics', () => {
  it('exports every shared metric with the service and node labels, plus the default process metrics', async () => {
    const m = new Metrics({ service: 'peer-gateway', nodeId: 'a' });
    m.peerBytesSent.inc({ peer: 'b' }, 1024);
    m.peerBytesReceived.inc({ peer: 'c' }, 2048);
    m.chunksVerified.inc(3);
    m.chunksRejected.inc();
    m.natsReconnects.inc();
    m.natsConnected.set(1);
    // Requests come from the services API's endpoint stats; events from the interceptor.
    m.useRequestStats(async (): Promise<RequestStats[]> => [
      { subject: 'swarm.tracker.file.list', requests: 1, errors: {}, seconds: 0.004 },
      { subject: 'swarm.tracker.file.get', requests: 3, errors: { NOT_FOUND: 1 }, seconds: 0.006 },
    ]);
    m.observeNatsEvent('swarm.evt.file.completed', 'ok', 0.001);
    const text = await m.text();
    for (const name of Object.values(METRIC_NAMES)) expect(text).toContain(`# TYPE ${name} `);
    const l = { service: 'peer-gateway', node: 'a' };
    expect(sample(text, 'swarmshare_peer_bytes_sent_total', { ...l, peer: 'b' })).toBe(1024);
    expect(sample(text, 'swarmshare_peer_bytes_received_total', { ...l, peer: 'c' })).toBe(2048);
    expect(sample(text, 'swarmshare_chunks_verified_total', l)).toBe(3);
    expect(sample(text, 'swarmshare_chunks_rejected_total', l)).toBe(1);
    expect(sample(text, 'swarmshare_nats_reconnects_total', l)).toBe(1);
    expect(sample(text, 'swarmshare_nats_connected', l)).toBe(1);
    const get = { ...l, subject: 'swarm.tracker.file.get', kind: 'request' };
    expect(sample(text, 'swarmshare_nats_requests_total', { ...get, outcome: 'NOT_FOUND' })).toBe(1);
    expect(sample(text, 'swarmshare_nats_requests_total', { ...get, outcome: 'ok' })).toBe(2);
    expect(sample(text, 'swarmshare_nats_request_duration_seconds_count', get)).toBe(3);
    expect(sample(text, 'swarmshare_nats_request_duration_seconds_sum', get)).toBeCloseTo(0.006);
    expect(sample(text, 'swarmshare_nats_request_duration_seconds_count', { ...l, subject: 'swarm.tracker.file.list', kind: 'request' })).toBe(1);
    const evt = { ...l, subject: 'swarm.evt.file.completed', kind: 'event' };
    expect(sample(text, 'swarmshare_nats_requests_total', { ...evt, outcome: 'ok' })).toBe(1);
    expect(sample(text, 'swarmshare_nats_request_duration_seconds_count', evt)).toBe(1);
    expect(text).toContain('# TYPE swarmshare_nats_request_duration_seconds summary');
    expect(text).toMatch(/^process_cpu_user_seconds_total\{/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds\{/m);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts a transfer as active until it ends, once, per direction', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const d1 = m.trackTransfer('download');
    const d2 = m.trackTransfer('download');
    const u1 = m.trackTransfer('upload');
    const value = async (direction: string) => (await m.activeTransfers.get()).values.find((v) => v.labels.direction === direction)?.value;
    expect(await value('download')).toBe(2);
    expect(await value('upload')).toBe(1);
    d1();
    d1();
    u1();
    expect(await value('download')).toBe(1);
    expect(await value('upload')).toBe(0);
    d2();
    expect(await value('download')).toBe(0);
  });

  it('keeps instances apart (each has its own registry)', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.chunksVerified.inc(5);
    expect(await b.text()).toMatch(/^swarmshare_chunks_verified_total 0$/m);
    expect(await a.text()).toMatch(/^swarmshare_chunks_verified_total 5$/m);
    expect(await b.text()).not.toContain('process_cpu');
  });
});

describe('the peer label is capped (injected clock)', () => {
  it('CappedLabelValues: up to max values, then OTHER; a value idle for idleMs gives its slot up, least recently used first', () => {
    let t = 0;
    const forgotten: string[] = [];
    const labels = new CappedLabelValues({ max: 2, idleMs: 1000 }, (v) => forgotten.push(v), () => t);
    expect(labels.label('a')).toBe('a');
    t = 100;
    expect(labels.label('b')).toBe('b');
    t = 200;
    expect(labels.label('c')).toBe(OTHER_PEERS_LABEL); // full, and nobody idle
    expect(labels.label('a')).toBe('a'); // a known value keeps its label (and is now the most recent)
    t = 1100;
    expect(labels.label('c')).toBe('c'); // b, idle since 100, gives its slot up; a (used at 200) does not
    expect(forgotten).toEqual(['b']);
    expect(labels.label('b')).toBe(OTHER_PEERS_LABEL);
    expect(labels.size).toBe(2);
    for (let i = 0; i < 10_000; i++) labels.label(`cli-${i}`);
    expect(labels.size).toBe(2);
    expect(new CappedLabelValues({ max: 0, idleMs: 1 }, () => undefined, () => t).label('x')).toBe(OTHER_PEERS_LABEL);
  });

  it('Metrics.peerBytes: 1000 one-off clients make at most max peer series plus _other, which counts the rest', async () => {
    let t = 0;
    const m = new Metrics({ service: 'peer-gateway', nodeId: 'a', defaultMetrics: false, now: () => t });
    m.peerLabels.limits = { max: 3, idleMs: 60_000 };
    for (let i = 0; i < 1000; i++) {
      m.peerBytes('sent', `cli-${i}`, 10);
      m.peerBytes('received', `cli-${i}`, 1);
    }
    const text = await m.text();
    const series = (txt: string, name: string) => txt.split('\n').filter((l) => l.startsWith(`${name}{`));
    expect(series(text, 'swarmshare_peer_bytes_sent_total')).toHaveLength(4);
    expect(series(text, 'swarmshare_peer_bytes_received_total')).toHaveLength(4);
    const l = { service: 'peer-gateway', node: 'a' };
    expect(sample(text, 'swarmshare_peer_bytes_sent_total', { ...l, peer: 'cli-0' })).toBe(10);
    expect(sample(text, 'swarmshare_peer_bytes_sent_total', { ...l, peer: OTHER_PEERS_LABEL })).toBe(997 * 10);
    expect(sample(text, 'swarmshare_peer_bytes_received_total', { ...l, peer: OTHER_PEERS_LABEL })).toBe(997);
    // Once the first clients are idle, new peers take their labels and the old series are gone.
    t = 60_000;
    m.peerBytes('sent', 'node-b', 5);
    const after = await m.text();
    expect(sample(after, 'swarmshare_peer_bytes_sent_total', { ...l, peer: 'node-b' })).toBe(5);
    expect(after).not.toContain('peer="cli-0"');
    expect(series(after, 'swarmshare_peer_bytes_sent_total')).toHaveLength(4);
    expect(series(after, 'swarmshare_peer_bytes_received_total')).toHaveLength(3); // cli-0 went from both
  });
});
