export default async function globalTeardown(): Promise<void> {
  const stops = (globalThis as { __SWARMSHARE_INFRA__?: Array<() => Promise<void>> }).__SWARMSHARE_INFRA__ ?? [];
  await Promise.all(stops.map((s) => s()));
}
