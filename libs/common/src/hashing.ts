/** Lean entry point `@swarmshare/common/hashing`: hash a file's chunks (and its whole content) in one pass over the cores. */
export * from './storage/file-hasher';
export * from './storage/region-hasher';
