// Informer restart delays. After an API server restart every node's informers fail at the same
// moment; without jitter 5,000 nodes would retry in lockstep, each wave a thundering herd of
// LISTs. Each delay is drawn uniformly from [½, 1½) × its step (client-go's wait.Jitter spreads
// the same way), so the herd spreads over a whole step.
const STEPS_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

/** The delay before restart number `attempt` (0-based); `random` returns [0, 1). */
export function restartDelayMs(attempt: number, random: () => number = Math.random): number {
  const step = STEPS_MS[Math.min(Math.max(attempt, 0), STEPS_MS.length - 1)] ?? 30_000;
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(step * (0.5 + r));
}
