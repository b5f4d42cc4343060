export * from './peer-identity';
export * from './peer-tls';
export * from './peer-ca';
export * from './credentials';
export * from './nats-users';
export * from './redis-users';
export * from './password-file';
export * from './control-plane';
