export * from './admin-proto';
export * from './grpc-exception.filter';
export * from './grpc-status';
