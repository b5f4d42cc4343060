/**
 * The value of a sample in Prometheus text format (undefined if none). By default the sample's
 * labels must include `labels`; with exact, they must be exactly `labels` (label order never matters).
 */
export function promSample(text: string, name: string, labels: Record<string, string> = {}, opts: { exact?: boolean } = {}): number | undefined {
  const keys = Object.keys(labels);
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? []) {
      const i = pair.indexOf('=');
      got[pair.slice(0, i)] = pair.slice(i + 2, -1);
    }
    if (opts.exact && Object.keys(got).length !== keys.length) continue;
    if (keys.every((k) => got[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}
