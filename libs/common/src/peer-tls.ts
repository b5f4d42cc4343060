/** Lean entry point `@swarmshare/common/peer-tls`: reading peer TLS material, without Nest (the CLI's start-up). */
export * from './security/peer-tls';
