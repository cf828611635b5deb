/**
 * Shared settings of the fuzz tests. `npm test` runs a few hundred cases with a fixed seed;
 * `npm run fuzz` sets FUZZ_RUNS (and optionally FUZZ_SEED) for a longer run.
 */
import fc from 'fast-check';

export const fuzzSettings = {
  numRuns: Number(process.env.FUZZ_RUNS ?? 200),
  seed: Number(process.env.FUZZ_SEED ?? 20261204),
};

/** A JSON text with up to three characters replaced, inserted or deleted. */
export const mutatedJson = fc
  .tuple(fc.json({ maxDepth: 4 }), fc.array(fc.tuple(fc.nat(), fc.constantFrom('replace', 'insert', 'delete'), fc.string({ minLength: 1, maxLength: 1 })), { maxLength: 3 }))
  .map(([text, edits]) => {
    let result = text;
    for (const [at, kind, char] of edits) {
      const index = result.length === 0 ? 0 : at % result.length;
      if (kind === 'replace') result = result.slice(0, index) + char + result.slice(index + 1);
      else if (kind === 'insert') result = result.slice(0, index) + char + result.slice(index);
      else result = result.slice(0, index) + result.slice(index + 1);
    }
    return result;
  });

