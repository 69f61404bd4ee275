// Repeated runs of one measurement reduced to what benchmark tables print: the median with the
// minimum and maximum beside it, and ratios between two systems' medians.

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many runs produced a finite value. */
  runs: number;
}

export function spread(values: readonly (number | undefined | null)[]): Spread {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0 };
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: finite.length };
}

/** A number with about three significant digits, thousands separated; '—' when not finite. */
export function formatFigure(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  if (abs === 0) return '0';
  return n.toFixed(3);
}

/** "median (min–max)", or just the median when all runs agree or there was one run. */
export function formatSpread(s: Spread): string {
  if (s.runs === 0) return '—';
  const median = formatFigure(s.median);
  const min = formatFigure(s.min);
  const max = formatFigure(s.max);
  return s.runs === 1 || min === max ? median : `${median} (${min}–${max})`;
}

/** a / b of two medians as "2.31x"; '' when either is missing. */
export function formatRatio(a: Spread | undefined, b: Spread | undefined): string {
  if (!a || !b || a.runs === 0 || b.runs === 0 || !Number.isFinite(a.median) || !(b.median > 0)) return '';
  const r = a.median / b.median;
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2)}x`;
}
