export * from './peer-identity';
export * from './peer-tls';
export * from './peer-ca';
