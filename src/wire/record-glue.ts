/**
 * The additional records that go with each record of an answer (SRV: its target's addresses),
 * as indices, so that a response sending only some of the records carries only their glue.
 */
export interface RecordGlue {
  /** Record i's glue is `additional[index[j]]` for j in [start[i], start[i + 1]). */
  start: Uint32Array;
  index: Uint32Array;
  additional: readonly Buffer[];
}

/** The glue of the records at `order` (record indices), each additional record once, first needed first. */
export function glueOf(glue: RecordGlue, order: readonly number[]): Buffer[] {
  const { start, index, additional } = glue;
  const seen = new Set<number>();
  const out: Buffer[] = [];
  for (const record of order) {
    for (let j = start[record]!; j < start[record + 1]!; j++) {
      const at = index[j]!;
      if (seen.has(at)) continue;
      seen.add(at);
      out.push(additional[at]!);
    }
  }
  return out;
}
