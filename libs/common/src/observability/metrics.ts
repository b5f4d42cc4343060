import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, type MetricObjectWithValues, type MetricValueWithName, Registry } from 'prom-client';
import type { RequestStats } from '../nats/micro-server';

/** Every metric name Swarmshare exports besides prom-client's default process_* and nodejs_* ones. */
export const METRIC_NAMES = {
  peerBytesSent: 'swarmshare_peer_bytes_sent_total',
  peerBytesReceived: 'swarmshare_peer_bytes_received_total',
  chunksVerified: 'swarmshare_chunks_verified_total',
  chunksRejected: 'swarmshare_chunks_rejected_total',
  chunksCorrupt: 'swarmshare_chunks_corrupt_total',
  scrubBytes: 'swarmshare_scrub_bytes_total',
  activeTransfers: 'swarmshare_active_transfers',
  natsRequests: 'swarmshare_nats_requests_total',
  natsRequestDuration: 'swarmshare_nats_request_duration_seconds',
  natsReconnects: 'swarmshare_nats_reconnects_total',
  natsConnected: 'swarmshare_nats_connected',
  gcRuns: 'swarmshare_gc_runs_total',
  gcFilesEvicted: 'swarmshare_gc_files_evicted_total',
  gcBytesEvicted: 'swarmshare_gc_bytes_evicted_total',
} as const;

export type TransferDirection = 'upload' | 'download';

/** The `peer` label of the bytes of peers past the cap (a node id cannot start with `_`, an address has a `:`). */
export const OTHER_PEERS_LABEL = '_other';

export interface PeerLabelLimits {
  /** Distinct `peer` label values at most (METRICS_PEER_LABELS); the others' bytes go to OTHER_PEERS_LABEL. */
  max: number;
  /** A peer silent this long gives its label up to a new one (METRICS_PEER_IDLE_MS); its series is removed. */
  idleMs: number;
}

export const DEFAULT_PEER_LABEL_LIMITS: PeerLabelLimits = { max: 100, idleMs: 600_000 };

/**
 * Bounds the values of one label: the peer's node id comes from the peer (every CLI dials with a
 * fresh `cli-…` id), and each value is a series Prometheus keeps, so without a cap a node's
 * /metrics grows with every client it ever served. Up to `max` values are kept, least recently used
 * first to go: a new value takes the slot of one idle for `idleMs` (whose series `forget` removes),
 * else it is counted under OTHER_PEERS_LABEL. `now` is injectable for tests.
 */
export class CappedLabelValues {
  /** Value -> when it was last used, least recently used first. */
  private readonly lastUsed = new Map<string, number>();

  constructor(
    public limits: PeerLabelLimits,
    private readonly forget: (value: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The label to count `value` under: itself, or OTHER_PEERS_LABEL when the cap is reached. */
  label(value: string): string {
    const t = this.now();
    if (this.lastUsed.delete(value)) {
      this.lastUsed.set(value, t);
      return value;
    }
    while (this.lastUsed.size >= this.limits.max) {
      const [oldest, at] = this.lastUsed.entries().next().value ?? [];
      if (oldest === undefined || at === undefined || t - at < this.limits.idleMs) return OTHER_PEERS_LABEL;
      this.lastUsed.delete(oldest);
      this.forget(oldest);
    }
    this.lastUsed.set(value, t);
    return value;
  }

  /** Values with a series of their own now. */
  get size(): number {
    return this.lastUsed.size;
  }
}
export type NatsHandlerKind = 'request' | 'event';

export interface MetricsOptions {
  /** Added as the `service` label of every series. */
  service?: string;
  /** Added as the `node` label of every series (node services). */
  nodeId?: string;
  /** Collect prom-client's default process_* / nodejs_* metrics (default true). */
  defaultMetrics?: boolean;
  /** Clock of the peer label cap's idle times (tests inject one). */
  now?: () => number;
}

/**
 * The shared metric objects of one process, on a registry of its own (never prom-client's global
 * one, so two instances in one test process do not collide). runService provides one instance as a
 * global Nest provider; inject it and use the prom-client objects directly:
 *
 *   metrics.peerBytes('sent', 'b', n);       // bytes this node sent to peer b (the peer label is capped)
 *   metrics.peerBytes('received', 'a', n);
 *   metrics.chunksVerified.inc();  metrics.chunksRejected.inc();
 *   const done = metrics.trackTransfer('download'); ... done();   // active transfers gauge
 *
 * NATS messages (`natsRequests`, `natsRequestDuration`) need nothing from services: requests are
 * read at scrape time from the NATS services API's endpoint stats (the same numbers as $SRV.STATS;
 * runService wires `useRequestStats`), events are recorded by NatsMetricsInterceptor (they are not
 * micro endpoints), and reconnects by runService.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  /** Bytes of chunk data this node sent, by the receiving peer's node id (or address); count through peerBytes, which caps the label. */
  readonly peerBytesSent: Counter<'peer'>;
  /** Bytes of chunk data this node received, by the sending peer's node id (or address). */
  readonly peerBytesReceived: Counter<'peer'>;
  /** Chunks whose SHA-256 matched the manifest. */
  readonly chunksVerified: Counter;
  /** Chunks refused: hash mismatch or wrong length. */
  readonly chunksRejected: Counter;
  /** Stored chunks that failed a re-hash and were marked missing, by what found them (request|scrub). */
  readonly chunksCorrupt: Counter<'found_by'>;
  /** Bytes the background scrub re-hashed (SCRUB_BYTES_PER_SEC). */
  readonly scrubBytes: Counter;
  /** Chunk transfers in progress, by direction. */
  readonly activeTransfers: Gauge<'direction'>;
  /** NATS messages handled, by subject, kind (request|event) and outcome (ok or an error code). */
  readonly natsRequests: Counter<'subject' | 'kind' | 'outcome'>;
  /** Handling time of NATS messages, by subject and kind: a summary (sum and count), as the services API keeps totals. */
  readonly natsRequestDuration: TotalsSummary;
  /** Times the NATS connection came back after being lost. */
  readonly natsReconnects: Counter;
  /** 1 while connected to NATS, else 0. */
  readonly natsConnected: Gauge;
  /** Garbage collection runs (peer-gateway), by trigger: `timer` or `on-demand`. */
  readonly gcRuns: Counter<'trigger'>;
  /** Files and bytes garbage collection evicted, by reason (`watermark`). */
  readonly gcFilesEvicted: Counter<'reason'>;
  readonly gcBytesEvicted: Counter<'reason'>;
  /** The `peer` label's values (both peer byte counters share them). */
  readonly peerLabels: CappedLabelValues;

  constructor(opts: MetricsOptions = {}) {
    const labels: Record<string, string> = {};
    if (opts.service) labels.service = opts.service;
    if (opts.nodeId) labels.node = opts.nodeId;
    this.registry.setDefaultLabels(labels);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.peerBytesSent = new Counter({ name: METRIC_NAMES.peerBytesSent, help: 'Bytes of chunk data sent to each peer', labelNames: ['peer'], registers });
    this.peerBytesReceived = new Counter({ name: METRIC_NAMES.peerBytesReceived, help: 'Bytes of chunk data received from each peer', labelNames: ['peer'], registers });
    this.peerLabels = new CappedLabelValues({ ...DEFAULT_PEER_LABEL_LIMITS }, (peer) => {
      this.peerBytesSent.remove({ peer });
      this.peerBytesReceived.remove({ peer });
    }, opts.now);
    this.chunksVerified = new Counter({ name: METRIC_NAMES.chunksVerified, help: 'Chunks whose SHA-256 matched the manifest', registers });
    this.chunksRejected = new Counter({ name: METRIC_NAMES.chunksRejected, help: 'Chunks rejected: hash mismatch or wrong length', registers });
    this.chunksCorrupt = new Counter({ name: METRIC_NAMES.chunksCorrupt, help: 'Stored chunks that failed a re-hash and were marked missing, by what found them', labelNames: ['found_by'], registers });
    this.scrubBytes = new Counter({ name: METRIC_NAMES.scrubBytes, help: 'Bytes the background scrub re-hashed', registers });
    this.activeTransfers = new Gauge({ name: METRIC_NAMES.activeTransfers, help: 'Chunk transfers in progress', labelNames: ['direction'], registers });
    const self = this;
    this.natsRequests = new Counter({
      name: METRIC_NAMES.natsRequests,
      help: 'NATS messages handled, by subject, kind and outcome',
      labelNames: ['subject', 'kind', 'outcome'],
      registers,
      // Rebuilt at each scrape from the services API's stats (requests) and the interceptor's (events).
      async collect() {
        this.reset();
        for (const t of await self.natsTotals()) {
          for (const [outcome, n] of Object.entries(t.outcomes)) this.inc({ subject: t.subject, kind: t.kind, outcome }, n);
        }
      },
    });
    this.natsRequestDuration = new TotalsSummary(METRIC_NAMES.natsRequestDuration, 'Time to handle a NATS message, by subject and kind', async () =>
      (await this.natsTotals()).map((t) => ({ labels: { subject: t.subject, kind: t.kind }, count: t.count, sum: t.seconds })),
    );
    this.registry.registerMetric(this.natsRequestDuration as never);
    this.natsReconnects = new Counter({ name: METRIC_NAMES.natsReconnects, help: 'Times the NATS connection was re-established', registers });
    this.natsConnected = new Gauge({ name: METRIC_NAMES.natsConnected, help: '1 while connected to NATS, else 0', registers });
    this.gcRuns = new Counter({ name: METRIC_NAMES.gcRuns, help: 'Garbage collection runs, by trigger', labelNames: ['trigger'], registers });
    this.gcFilesEvicted = new Counter({ name: METRIC_NAMES.gcFilesEvicted, help: 'Files garbage collection evicted, by reason', labelNames: ['reason'], registers });
    this.gcBytesEvicted = new Counter({ name: METRIC_NAMES.gcBytesEvicted, help: 'Bytes garbage collection evicted, by reason', labelNames: ['reason'], registers });
  }

  /** Chunk bytes sent to or received from `peer` (a node id or address), under a capped `peer` label. */
  peerBytes(direction: 'sent' | 'received', peer: string, bytes: number): void {
    (direction === 'sent' ? this.peerBytesSent : this.peerBytesReceived).inc({ peer: this.peerLabels.label(peer) }, bytes);
  }

  /** Count one transfer as active until the returned function is called (calling it twice is harmless). */
  trackTransfer(direction: TransferDirection): () => void {
    this.activeTransfers.inc({ direction });
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.activeTransfers.dec({ direction });
    };
  }

  /** Where request stats come from: the micro service's endpoint stats (runService sets this). */
  useRequestStats(source: () => Promise<RequestStats[]>): void {
    this.requestStats = source;
  }
  private requestStats?: () => Promise<RequestStats[]>;
  /** Events handled, by subject: outcomes and total seconds (bounded: one entry per subscribed pattern and error code). */
  private readonly events = new Map<string, { outcomes: Record<string, number>; count: number; seconds: number }>();

  /** Record one handled NATS event (NatsMetricsInterceptor calls this; requests are counted by the services API). */
  observeNatsEvent(subject: string, outcome: string, seconds: number): void {
    let e = this.events.get(subject);
    if (!e) this.events.set(subject, (e = { outcomes: {}, count: 0, seconds: 0 }));
    e.outcomes[outcome] = (e.outcomes[outcome] ?? 0) + 1;
    e.count++;
    e.seconds += seconds;
  }

  private async natsTotals(): Promise<Array<{ subject: string; kind: NatsHandlerKind; outcomes: Record<string, number>; count: number; seconds: number }>> {
    const requests = ((await this.requestStats?.().catch(() => [])) ?? []).map((r) => {
      const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
      return { subject: r.subject, kind: 'request' as const, outcomes: { ok: Math.max(0, r.requests - errors), ...r.errors }, count: r.requests, seconds: r.seconds };
    });
    return [...requests, ...[...this.events].map(([subject, e]) => ({ subject, kind: 'event' as const, ...e }))];
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * A Prometheus summary without quantiles (`_sum` and `_count`) read from totals at scrape time: the
 * NATS services API keeps a total processing time and a count per endpoint, not a distribution.
 */
export class TotalsSummary {
  readonly type = 'summary';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly totals: () => Promise<Array<{ labels: Record<string, string>; count: number; sum: number }>>,
  ) {}

  async get(): Promise<Omit<MetricObjectWithValues<MetricValueWithName<string>>, 'collect'>> {
    const values = (await this.totals()).flatMap((t) => [
      { metricName: `${this.name}_sum`, labels: t.labels, value: t.sum },
      { metricName: `${this.name}_count`, labels: t.labels, value: t.count },
    ]);
    return { name: this.name, help: this.help, type: 'summary' as never, aggregator: 'sum', values };
  }
}
