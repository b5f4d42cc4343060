/** Lean entry point `@swarmshare/common/nats-client`: a plain NATS connection and request/reply with schemas, without Nest. */
export * from './nats/client';
export * from './nats/nats-rpc';
export { readPasswordFile, urlsWithPassword } from './security/password-file';
