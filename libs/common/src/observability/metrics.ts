import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric name Swarmshare exports besides prom-client's default process_* and nodejs_* ones. */
export const METRIC_NAMES = {
  peerBytesSent: 'swarmshare_peer_bytes_sent_total',
  peerBytesReceived: 'swarmshare_peer_bytes_received_total',
  chunksVerified: 'swarmshare_chunks_verified_total',
  chunksRejected: 'swarmshare_chunks_rejected_total',
  activeTransfers: 'swarmshare_active_transfers',
  natsRequests: 'swarmshare_nats_requests_total',
  natsRequestDuration: 'swarmshare_nats_request_duration_seconds',
  natsReconnects: 'swarmshare_nats_reconnects_total',
  natsConnected: 'swarmshare_nats_connected',
  gcRuns: 'swarmshare_gc_runs_total',
  gcFilesEvicted: 'swarmshare_gc_files_evicted_total',
  gcBytesEvicted: 'swarmshare_gc_bytes_evicted_total',
} as const;

/** Seconds; NATS requests are usually sub-millisecond to a few hundred ms. */
export const NATS_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type TransferDirection = 'upload' | 'download';
export type NatsHandlerKind = 'request' | 'event';

export interface MetricsOptions {
  /** Added as the `service` label of every series. */
  service?: string;
  /** Added as the `node` label of every series (node services). */
  nodeId?: string;
  /** Collect prom-client's default process_* / nodejs_* metrics (default true). */
  defaultMetrics?: boolean;
}

/**
 * The shared metric objects of one process, on a registry of its own (never prom-client's global
 * one, so two instances in one test process do not collide). runService provides one instance as a
 * global Nest provider; inject it and use the prom-client objects directly:
 *
 *   metrics.peerBytesSent.inc({ peer: 'b' }, n);        // bytes this node sent to peer b
 *   metrics.peerBytesReceived.inc({ peer: 'a' }, n);
 *   metrics.chunksVerified.inc();  metrics.chunksRejected.inc();
 *   const done = metrics.trackTransfer('download'); ... done();   // active transfers gauge
 *
 * NATS requests (`natsRequests`, `natsRequestDuration`) are recorded for every @MessagePattern /
 * @EventPattern handler by NatsMetricsInterceptor, and reconnects by runService: services need do
 * nothing for those.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  /** Bytes of chunk data this node sent, by the receiving peer's node id (or address). */
  readonly peerBytesSent: Counter<'peer'>;
  /** Bytes of chunk data this node received, by the sending peer's node id (or address). */
  readonly peerBytesReceived: Counter<'peer'>;
  /** Chunks whose SHA-256 matched the manifest. */
  readonly chunksVerified: Counter;
  /** Chunks refused: hash mismatch or wrong length. */
  readonly chunksRejected: Counter;
  /** Chunk transfers in progress, by direction. */
  readonly activeTransfers: Gauge<'direction'>;
  /** NATS messages handled, by subject, kind (request|event) and outcome (ok or an error code). */
  readonly natsRequests: Counter<'subject' | 'kind' | 'outcome'>;
  /** Handling time of NATS messages, by subject, kind and outcome. */
  readonly natsRequestDuration: Histogram<'subject' | 'kind' | 'outcome'>;
  /** Times the NATS connection came back after being lost. */
  readonly natsReconnects: Counter;
  /** 1 while connected to NATS, else 0. */
  readonly natsConnected: Gauge;
  /** Garbage collection runs (peer-gateway), by trigger: `timer` or `on-demand`. */
  readonly gcRuns: Counter<'trigger'>;
  /** Files and bytes garbage collection evicted, by reason (`watermark`). */
  readonly gcFilesEvicted: Counter<'reason'>;
  readonly gcBytesEvicted: Counter<'reason'>;

  constructor(opts: MetricsOptions = {}) {
    const labels: Record<string, string> = {};
    if (opts.service) labels.service = opts.service;
    if (opts.nodeId) labels.node = opts.nodeId;
    this.registry.setDefaultLabels(labels);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.peerBytesSent = new Counter({ name: METRIC_NAMES.peerBytesSent, help: 'Bytes of chunk data sent to each peer', labelNames: ['peer'], registers });
    this.peerBytesReceived = new Counter({ name: METRIC_NAMES.peerBytesReceived, help: 'Bytes of chunk data received from each peer', labelNames: ['peer'], registers });
    this.chunksVerified = new Counter({ name: METRIC_NAMES.chunksVerified, help: 'Chunks whose SHA-256 matched the manifest', registers });
    this.chunksRejected = new Counter({ name: METRIC_NAMES.chunksRejected, help: 'Chunks rejected: hash mismatch or wrong length', registers });
    this.activeTransfers = new Gauge({ name: METRIC_NAMES.activeTransfers, help: 'Chunk transfers in progress', labelNames: ['direction'], registers });
    this.natsRequests = new Counter({ name: METRIC_NAMES.natsRequests, help: 'NATS messages handled, by subject, kind and outcome', labelNames: ['subject', 'kind', 'outcome'], registers });
    this.natsRequestDuration = new Histogram({
      name: METRIC_NAMES.natsRequestDuration,
      help: 'Time to handle a NATS message, by subject, kind and outcome',
      labelNames: ['subject', 'kind', 'outcome'],
      buckets: NATS_LATENCY_BUCKETS,
      registers,
    });
    this.natsReconnects = new Counter({ name: METRIC_NAMES.natsReconnects, help: 'Times the NATS connection was re-established', registers });
    this.natsConnected = new Gauge({ name: METRIC_NAMES.natsConnected, help: '1 while connected to NATS, else 0', registers });
    this.gcRuns = new Counter({ name: METRIC_NAMES.gcRuns, help: 'Garbage collection runs, by trigger', labelNames: ['trigger'], registers });
    this.gcFilesEvicted = new Counter({ name: METRIC_NAMES.gcFilesEvicted, help: 'Files garbage collection evicted, by reason', labelNames: ['reason'], registers });
    this.gcBytesEvicted = new Counter({ name: METRIC_NAMES.gcBytesEvicted, help: 'Bytes garbage collection evicted, by reason', labelNames: ['reason'], registers });
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

  /** Record one handled NATS message (what NatsMetricsInterceptor calls). */
  observeNats(subject: string, kind: NatsHandlerKind, outcome: string, seconds: number): void {
    const labels = { subject, kind, outcome };
    this.natsRequests.inc(labels);
    this.natsRequestDuration.observe(labels, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
