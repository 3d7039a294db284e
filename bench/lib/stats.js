'use strict';
// Small summary statistics for benchmark samples (all in the sample's own unit).

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0],
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1],
    // Spread as the interquartile range: robust to the odd slow run on a shared machine.
    iqr: quantile(sorted, 0.75) - quantile(sorted, 0.25),
  };
}

module.exports = { quantile, summarize };
