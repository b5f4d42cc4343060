import 'reflect-metadata';

// The contracts (errors, subjects, schemas, sizes, file ids, ...) are also a lean entry point of their own.
export * from './contracts';
export * from './logging';
export * from './config/load-config';
export * from './config/service-configs';
export * from './nats/plain-json';
export * from './nats/rpc-exception.filter';
export * from './nats/connect';
export * from './nats/nats-rpc';
export * from './protocol';
export * from './storage/mapped-region';
export * from './storage/mapping-registry';
export * from './storage/preallocate';
export * from './storage/chunk-runs';
export * from './storage/file-hasher';
export * from './storage/region-hasher';
export * from './bootstrap';
export * from './observability';
export * from './grpc';
export * from './version';
export * from './nats/micro-server';
export * from './nats/facts-stream';
export * from './security';
export * from './redis-client';
