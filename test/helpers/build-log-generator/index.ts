/**
 * Test helper: renders the plain-progress log a builder prints for a random Dockerfile shape, and
 * says how many steps came from the cache, so the cache report's counters can be checked against
 * known counts (test/cache-report-property.test.ts).
 *
 * The logs follow the builders' source, not samples (the rules are summed up, with their
 * sources, in src/cache-report.ts):
 * - BuildKit: step labels from the Dockerfile frontend's `prefixCommand` (platform prefix, stage
 *   name, step number padded to the width of the stage's step count, `ONBUILD ` for triggers on
 *   frontend 1.11+, whose count includes them; 20.10's frontend leaves triggers out of the count),
 *   vertex output from the plain printer's `textMux.printVtx` (`#N name` when it switches to a
 *   vertex, `#N ...` when it leaves one unfinished, `#N <seconds> <line>` for output, statuses,
 *   `CACHED`/`DONE`/`ERROR`/`CANCELED`; Docker 20.10 adds the vertex digest after each name line
 *   and fetches cache layers as `pulling sha256:...`).
 * - Buildah: `[<platform>] [k/n] STEP i/m: <instruction as written>`, `--> Using cache <id>` on a
 *   hit, output lines as they come, a second build after a refused cache export.
 *
 * What a step is, and whether it came from the cache, is decided here first (each vertex gets an
 * outcome); the log is then rendered from it. A step (one label; it may be shown by two vertices)
 * is cached when one of its vertices printed CACHED or when all of them only fetched or unpacked
 * layers; a step that ran, failed or was canceled was executed. Steps the log never shows (after
 * a failure) are not counted.
 */
export type { BuildKitFlavor, BuildKitShape, BuildahShape, Instruction, InstructionKind, RenderedLog, Stage, Twin, VertexOutcome } from './shapes';
export { buildKitShape, buildahShape } from './shapes';
export { renderBuildKitLog } from './buildkit';
export { renderBuildahLog } from './buildah';
