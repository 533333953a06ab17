export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

// At most 5 s apart: when the network comes back, a person is back within
// seconds, not a quarter of a minute.
export const defaultBackoff: BackoffOptions = { baseMs: 500, maxMs: 5_000 };

// reconnectDelay is exponential backoff with "equal jitter": half of the
// capped exponential delay is fixed, half is random. The fixed half keeps a
// client from hammering a gateway that is down; the random half spreads out a
// whole meeting that lost its connections at the same instant.
export function reconnectDelay(
  attempt: number,
  opts: BackoffOptions = defaultBackoff,
  random: () => number = Math.random,
): number {
  const exp = opts.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30);
  const cap = Math.min(opts.maxMs, exp);
  return cap / 2 + random() * (cap / 2);
}
