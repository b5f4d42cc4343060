/** Entry point `@swarmshare/common/nest`: what a Nest service needs to start (bootstrap, config, logging, NATS transport, observability). */
export * from './bootstrap';
export * from './config/load-config';
export * from './config/service-configs';
export * from './logging';
export * from './nats/plain-json';
export * from './nats/rpc-exception.filter';
export * from './nats/connect';
export * from './nats/micro-server';
export * from './observability';
