export * from './peer-errors';
export * from './peer-handler';
export * from './store-sink';
export * from './connection-core';
export * from './peer-connection';
export * from './peer-client';
