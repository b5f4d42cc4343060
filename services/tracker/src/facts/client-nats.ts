/** The tracker's own NATS client (Nest's transport only serves): the facts consumer and the admin API's calls to nodes. */
export const CLIENT_NATS = Symbol('CLIENT_NATS');
