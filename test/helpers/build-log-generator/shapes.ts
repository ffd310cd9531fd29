/** The Dockerfile shapes fast-check draws (stages, instructions, vertex outcomes, platforms), and their arbitraries. */
import * as fc from 'fast-check';

// ------------------------------------------------------------------ shapes (what fast-check draws)

/** BuildKit's log as printed by buildx/Docker 23+ (frontend 1.11+), or by Docker 20.10. */
export type BuildKitFlavor = 'buildkit' | 'docker20';

/**
 * How a vertex ends: `cached` prints CACHED (maybe after layer fetches, maybe reprinted with
 * layer unpacking after it), `layers` only fetches/unpacks layers, `ran` prints output or
 * statuses, `silent` ran and printed nothing but DONE. A failure is placed by the shape.
 */
export type VertexOutcome = 'cached' | 'layers' | 'ran' | 'silent';

/** A second vertex with the same label: none, or how it ends (a step shared with another build). */
export type Twin = 'none' | 'cached' | 'layers' | 'ran';

export type InstructionKind = 'RUN' | 'COPY' | 'ADD' | 'WORKDIR' | 'ENV' | 'LABEL' | 'ARG' | 'EXPOSE' | 'USER' | 'CMD' | 'ENTRYPOINT' | 'VOLUME' | 'STOPSIGNAL' | 'ONBUILD';

export interface Instruction {
  readonly kind: InstructionKind;
  /** Picks the instruction's text (some texts look like labels, statuses or FROM). */
  readonly text: number;
  /** How the step's vertex ends, per platform. */
  readonly outcomes: VertexOutcome[];
  readonly twin: Twin;
  /** WORKDIR `/`: BuildKit counts it in the stage's total but prints no vertex for it. */
  readonly root: boolean;
  /** Buildah: the instruction's case as written (`RUN`, `run`, `Run`). */
  readonly casing: number;
}

export interface Stage {
  readonly name?: string;
  readonly base: 'image' | 'scratch' | 'stage';
  /** Instructions of the base image's ONBUILD triggers (image bases only). */
  readonly triggers: Instruction[];
  readonly instructions: Instruction[];
  /** Runs on the build platform for another target (`FROM --platform=$BUILDPLATFORM`). */
  readonly cross: boolean;
}

export interface BuildKitShape {
  readonly flavor: BuildKitFlavor;
  readonly platforms: string[];
  /** BUILDKIT_MULTI_PLATFORM=1: platform prefixes with a single platform. */
  readonly forcePrefix: boolean;
  readonly stages: Stage[];
  /** Fraction of the steps after which one fails (the rest is canceled or never shown), if any. */
  readonly failAt: number | null;
  /** Internal vertices (context, metadata, cache import/export, FROM) around the steps. */
  readonly internals: boolean;
  /** Drives the interleaving of vertices and the details of their output. */
  readonly seed: number;
}

export interface BuildahShape {
  readonly platforms: string[];
  readonly stages: Stage[];
  /** The step after which the build fails, as a fraction of the steps, if any. */
  readonly failAt: number | null;
  /** The cache export is refused at some step and the build runs again (whose hits do not count). */
  readonly exportRefused: boolean;
  readonly seed: number;
}

export interface RenderedLog {
  readonly log: string;
  readonly cached: number;
  readonly executed: number;
  /** BuildKit: each step's label and whether it was cached (to explain a failure). */
  readonly steps?: string[];
}

// ------------------------------------------------------------------ arbitraries

const KINDS: InstructionKind[] = ['RUN', 'COPY', 'ADD', 'WORKDIR', 'ENV', 'LABEL', 'ARG', 'EXPOSE', 'USER', 'CMD', 'ENTRYPOINT', 'VOLUME', 'STOPSIGNAL', 'ONBUILD'];
export const COUNTED: InstructionKind[] = ['RUN', 'COPY', 'ADD', 'WORKDIR'];
const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/ppc64le', 'linux/s390x', 'linux/riscv64'];
/** `platforms.FormatAll` with an OS version (newer frontends only). */
const PLATFORMS_WITH_OS_VERSION = ['windows(10.0.17763.1234)/amd64'];
const MAX_PLATFORMS = 3;

function instruction(kinds: fc.Arbitrary<InstructionKind>): fc.Arbitrary<Instruction> {
  return fc.record({
    kind: kinds,
    text: fc.nat(99),
    // A failure is placed by the shape's failAt, not per instruction.
    outcomes: fc.array(fc.constantFrom<VertexOutcome>('cached', 'cached', 'layers', 'ran', 'ran', 'silent'), { minLength: MAX_PLATFORMS, maxLength: MAX_PLATFORMS }),
    twin: fc.constantFrom<Twin>('none', 'none', 'none', 'none', 'none', 'cached', 'layers', 'ran'),
    root: fc.nat(9).map((n) => n < 3),
    casing: fc.nat(2),
  }).map((i) => ({ ...i, root: i.kind === 'WORKDIR' && i.root }));
}

const anyInstruction = instruction(fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<InstructionKind>(...COUNTED) },
  { weight: 2, arbitrary: fc.constantFrom<InstructionKind>(...KINDS) },
));
const triggerInstruction = instruction(fc.constantFrom<InstructionKind>('RUN', 'COPY', 'WORKDIR', 'ENV'));

const stageName = fc.stringMatching(/^[a-z][a-z0-9._-]{0,11}$/);

function stages(maxStages: number): fc.Arbitrary<Stage[]> {
  return fc.array(fc.record({
    named: fc.boolean(),
    name: stageName,
    base: fc.constantFrom<Stage['base']>('image', 'image', 'scratch', 'stage'),
    triggers: fc.oneof(
      { weight: 4, arbitrary: fc.constant<Instruction[]>([]) },
      { weight: 1, arbitrary: fc.array(triggerInstruction, { minLength: 1, maxLength: 3 }) },
    ),
    // size 'max': lengths up to 40, not just fast-check's default small sizes
    instructions: fc.array(anyInstruction, { minLength: 1, maxLength: 40, size: 'max' }),
    cross: fc.boolean(),
  }), { minLength: 1, maxLength: maxStages }).map((list) => {
    const used = new Set<string>();
    return list.map((s, i) => {
      // Stage names are unique; the first stage cannot be based on another one.
      const name = s.named && !used.has(s.name) ? s.name : undefined;
      if (name) used.add(name);
      const base = i === 0 && s.base === 'stage' ? 'image' : s.base;
      return { name, base, triggers: base === 'image' ? s.triggers : [], instructions: s.instructions, cross: s.cross };
    });
  });
}

/** A random Dockerfile built by BuildKit, for one to three platforms. */
export function buildKitShape(): fc.Arbitrary<BuildKitShape> {
  return fc.record({
    flavor: fc.constantFrom<BuildKitFlavor>('buildkit', 'docker20'),
    platforms: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string[]>(['linux/amd64']) },
      {
        weight: 2,
        arbitrary: fc.uniqueArray(fc.constantFrom(...PLATFORMS, ...PLATFORMS_WITH_OS_VERSION), { minLength: 1, maxLength: MAX_PLATFORMS }),
      },
    ),
    forcePrefix: fc.boolean(),
    stages: stages(4),
    failAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 4 }),
    internals: fc.boolean(),
    seed: fc.nat(),
  }).map((s) => ({
    ...s,
    // Docker 20.10 formats platforms with `platforms.Format` (no OS version) and has no
    // BUILDKIT_MULTI_PLATFORM: a prefix only for two or more platforms.
    platforms: s.flavor === 'docker20' ? s.platforms.filter((p) => !p.includes('(')).concat(s.platforms.every((p) => p.includes('(')) ? ['linux/amd64'] : []) : s.platforms,
    forcePrefix: s.flavor === 'buildkit' && s.forcePrefix,
  }));
}

/** A random Dockerfile built by Buildah, for one to three platforms. */
export function buildahShape(): fc.Arbitrary<BuildahShape> {
  return fc.record({
    platforms: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string[]>(['linux/amd64']) },
      { weight: 1, arbitrary: fc.uniqueArray(fc.constantFrom(...PLATFORMS), { minLength: 1, maxLength: MAX_PLATFORMS }) },
    ),
    stages: stages(4),
    failAt: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 5 }),
    exportRefused: fc.nat(9).map((n) => n < 3),
    seed: fc.nat(),
  });
}
