// Reading a service's /metrics in benchmarks: a counter's value, or quantiles of a histogram between
// two scrapes (from its bucket deltas, linear within a bucket).

export async function scrape(httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
}

export function metricValue(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function buckets(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)"[^}]*\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m) out.set(m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]), Number(m[2]));
  }
  return out;
}

/** The q-quantile (0..1) of observations made between the two scrapes, in the histogram's unit. */
export function histogramQuantile(before: string, after: string, name: string, q: number): number {
  const a = buckets(after, name);
  const b = buckets(before, name);
  const bounds = [...a.keys()].sort((x, y) => x - y);
  const counts = bounds.map((le) => (a.get(le) ?? 0) - (b.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total === 0) return Number.NaN;
  const target = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upper = bounds[i]!;
    const cumulative = counts[i]!;
    if (cumulative >= target) {
      if (!Number.isFinite(upper)) return lower;
      const inBucket = cumulative - below;
      return inBucket === 0 ? upper : lower + ((upper - lower) * (target - below)) / inBucket;
    }
    lower = upper;
    below = cumulative;
  }
  return lower;
}
