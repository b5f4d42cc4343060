// The same loopback nats-server/redis-server launcher that `swarmshare up` uses.
export * from '../../cli/src/launcher/local-servers';
