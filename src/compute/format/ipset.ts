// Sets as `ipset save` prints them (`create …` and `add SET ENTRY` lines); `ipset restore` reads it.
import type { IpsetState } from '../model/desired.ts';

export const createLine = (s: IpsetState): string => `create ${s.name} ${s.type} ${s.createOptions}`;

export function formatIpsetSave(sets: readonly IpsetState[]): string {
  const lines: string[] = [];
  for (const s of sets) {
    lines.push(createLine(s));
    for (const e of s.entries) lines.push(`add ${s.name} ${e}`);
  }
  return `${lines.join('\n')}\n`;
}
