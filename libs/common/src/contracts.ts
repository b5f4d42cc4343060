/**
 * Lean entry point `@swarmshare/common/contracts`: the messages and rules every process shares
 * (errors, subjects, schemas, sizes, file ids, bitfields, replication plans), without Nest, Redis
 * or the peer protocol. The CLI loads this; services may keep using the full barrel (index.ts).
 */
export * from './errors';
export * from './subjects';
export * from './schemas';
export * from './validate';
export * from './sizes';
export * from './durations';
export * from './recency';
export * from './file-id';
export * from './bitfield';
export * from './replication';
export * from './topology';
export * from './chunk-size';
export * from './file-import';
export * from './preheat';
export * from './manifest-pages';
