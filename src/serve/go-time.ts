// Timestamps as kube-proxy's JSON bodies print them: Go's time.Time MarshalJSON (RFC 3339
// with up to 9 fraction digits, trailing zeros dropped). We always print UTC ("Z"), which is
// what kube-proxy prints in its container (no TZ set there).

/** Go's zero time.Time: what kube-proxy prints for "never". */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Epoch milliseconds → `2024-05-01T12:00:00.123456Z`. Fractions are kept to the microsecond:
 * a double holding epoch ms has no finer resolution (its ulp is ~0.24 µs today).
 */
export function goTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return GO_ZERO_TIME;
  const secondMs = Math.floor(ms / 1000) * 1000;
  const micros = Math.min(999_999, Math.round((ms - secondMs) * 1000));
  const fraction = String(micros).padStart(6, '0').replace(/0+$/, '');
  const whole = new Date(secondMs).toISOString().slice(0, 19);
  return `${whole}${fraction === '' ? '' : `.${fraction}`}Z`;
}
