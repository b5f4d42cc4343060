// Tests start services exactly as `swarmshare up` does.
export * from '../../cli/src/launcher/service-process';
