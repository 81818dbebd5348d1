// Text the daemon keeps per object (set entries, virtual server keys, object keys), built flat.
// A template literal or `+` of 13 characters or more makes V8 a rope (ConsString) that keeps
// every part alive: `10.96.0.1,tcp:80` held that way costs ~128 bytes of heap instead of ~40,
// and flattening it later (hashing it as a Map key) adds a flat copy without freeing the rope.
// Array.prototype.join builds one sequential string. At 10,000 Services the desired state, the
// index's Counted sets and the known kernel state hold ~90,000 such strings (#12).

/** The parts' texts concatenated into one flat string. */
export const flat = (...parts: readonly (string | number)[]): string => parts.join('');
