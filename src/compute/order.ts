// Orders shared by the pure layers, so printed output is the same on every run.

/** Code-unit order (not locale order): the same on every machine. */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
