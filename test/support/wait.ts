/** Poll `check` until it returns a truthy value (returned), or fail after `ms` naming `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, ms = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
