/** Where `swarmshare up` keeps the local swarm (cluster.json); in a file of its own so `--help` loads nothing else. */
export const DEFAULT_DATA_DIR = '.swarmshare';
