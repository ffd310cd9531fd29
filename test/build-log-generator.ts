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
const COUNTED: InstructionKind[] = ['RUN', 'COPY', 'ADD', 'WORKDIR'];
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

// ------------------------------------------------------------------ helpers

/** Park-Miller minimal standard PRNG: deterministic, so a shape always renders the same log. */
function prng(seed: number): () => number {
  let a = (seed % 2147483646) + 1;
  return () => {
    a = (a * 16807) % 2147483647;
    return (a - 1) / 2147483646;
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
function hex(rand: Rand, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(rand() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

/** Instruction texts, some made to look like what the counters read (labels, FROM, statuses). */
const TEXTS: Record<string, string[]> = {
  RUN: [
    'echo "step ran-$((6*7))" && sleep 1',
    'echo "[1/2] FROM busybox" > /from.txt',
    'echo "] FROM " && true',
    '--mount=type=cache,target=/root/.cache make deps',
    '--mount=type=secret,id=token test -s /run/secrets/token',
    'printf "#3 CACHED\\n" > /fake',
    'cat requirements.txt > /deps.txt',
    'echo "STEP 1/2: RUN x" && echo "--> Using cache 0123"',
  ],
  COPY: ['requirements.txt .', 'app.txt /app/app.txt', '--from=build /out /out', '--link . .', '--chown=1000:1000 src/ /src/'],
  ADD: ['https://example.com/tool.tar.gz /opt/', 'vendor.tar.gz /vendor', 'git@github.com:org/repo.git /repo'],
  WORKDIR: ['/app', '/src', '/work/[x]'],
  ENV: ['A=1', 'PATH=/bin'],
  LABEL: ['org.opencontainers.image.title=app'],
  ARG: ['VERSION=1'],
  EXPOSE: ['8080'],
  USER: ['1000'],
  CMD: ['["cat", "/app/app.txt"]'],
  ENTRYPOINT: ['["/bin/sh"]'],
  VOLUME: ['/data'],
  STOPSIGNAL: ['SIGTERM'],
  ONBUILD: ['RUN echo trigger'],
};

function text(i: Instruction): string {
  if (i.kind === 'WORKDIR' && i.root) return 'WORKDIR /';
  const texts = TEXTS[i.kind];
  return `${i.kind} ${texts[i.text % texts.length]}`;
}

/** Output lines a RUN may print; BuildKit prefixes them with the vertex and a time. */
const OUTPUT = ['step ran-42', 'CACHED', 'DONE 0.1s', '...', 'sha256:' + '0'.repeat(64), 'extracting sha256:' + 'f'.repeat(64), '#4 CACHED', 'compiling 3 files', 'WARN: from the program'];

/** Seconds as the printer shows them: 3 decimals below 10 s, 2 below 100 s, 1 above. */
function seconds(rand: Rand): string {
  const s = rand() < 0.8 ? rand() * 10 : rand() * 200;
  return s.toFixed(s < 10 ? 3 : s < 100 ? 2 : 1);
}

function digits(n: number): number {
  return Math.floor(1 + Math.log10(n));
}

// ------------------------------------------------------------------ BuildKit

/** What a vertex prints between its name lines: segments, each ending with a final line. */
interface Vertex {
  readonly name: string;
  /** The step's label, for step vertices. */
  readonly label?: string;
  readonly segments: string[][];
  /** How the vertex ends if it runs to the end (`cached`, `layers` or `ran`). */
  readonly result: 'cached' | 'layers' | 'ran';
}

function layerLines(rand: Rand, flavor: BuildKitFlavor, classicStore: boolean): string[] {
  const lines: string[] = [];
  for (let n = int(rand, 1, 4); n > 0; n--) {
    const d = `sha256:${hex(rand, 64)}`;
    if (flavor === 'docker20' || classicStore) {
      lines.push(rand() < 0.3 ? `pulling ${d}` : `pulling ${d} ${(rand() * 2).toFixed(1)}s done`);
    } else {
      const size = pick(rand, ['93B', '1.05MB', '12.34MB', '174B']);
      lines.push(rand() < 0.2 ? `${d} 0B / ${size}` : `${d} ${size} / ${size} ${(rand() * 2).toFixed(1)}s done`);
      lines.push(rand() < 0.3 ? `extracting ${d}` : `extracting ${d} ${(rand() * 2).toFixed(1)}s done`);
    }
  }
  return lines;
}

function done(rand: Rand, flavor: BuildKitFlavor): string {
  // The current printer leaves the time out when the vertex has no interval.
  return flavor === 'buildkit' && rand() < 0.15 ? 'DONE' : `DONE ${(rand() * 3).toFixed(1)}s`;
}

function stepVertex(rand: Rand, flavor: BuildKitFlavor, name: string, label: string, outcome: VertexOutcome | Twin, classicStore: boolean): Vertex {
  const warn = () => (rand() < 0.1 ? ['WARN: InvalidDefinitionDescription: a warning about this step'] : []);
  switch (outcome) {
    case 'cached': {
      const segments = [[...(rand() < 0.3 ? layerLines(rand, flavor, classicStore) : []), ...warn(), 'CACHED']];
      // BuildKit sometimes shows a cached step again, unpacking its layers, after CACHED.
      if (rand() < 0.25) segments.push([...layerLines(rand, flavor, classicStore), done(rand, flavor)]);
      return { name, label, segments, result: 'cached' };
    }
    case 'layers': {
      const segments = [[...layerLines(rand, flavor, classicStore), ...warn(), done(rand, flavor)]];
      if (rand() < 0.3) segments.push([...layerLines(rand, flavor, classicStore), done(rand, flavor)]);
      return { name, label, segments, result: 'layers' };
    }
    case 'silent':
      return { name, label, segments: [[...warn(), done(rand, flavor)]], result: 'ran' };
    case 'ran': {
      const lines: string[] = [];
      if (rand() < 0.3) lines.push(...layerLines(rand, flavor, classicStore));
      // Something besides layers (output or another status): layers alone read as a cache hit.
      const output = int(rand, rand() < 0.2 ? 0 : 1, 5);
      for (let n = output; n > 0; n--) lines.push(`${seconds(rand)} ${pick(rand, OUTPUT)}`);
      if (output === 0 || rand() < 0.2) lines.push(pick(rand, ['resolve 127.0.0.1:5000/tool:1 0.1s done', 'transferring 2.1kB 0.0s done', 'mounting cache 0.0s done']));
      lines.push(...warn());
      lines.push(done(rand, flavor));
      return { name, label, segments: [lines], result: 'ran' };
    }
    default:
      throw new Error(`no vertex for ${outcome}`);
  }
}

/** The vertices of every step of every stage, per platform, and the internal ones. */
function buildKitVertices(shape: BuildKitShape, rand: Rand): Vertex[] {
  const modern = shape.flavor === 'buildkit';
  const prefix = shape.platforms.length > 1 || shape.forcePrefix;
  const classicStore = rand() < 0.3;
  const steps: Vertex[] = [];
  const internals: Vertex[] = [];
  const internal = (name: string, lines: string[]) => internals.push({ name, segments: [lines], result: 'ran' });
  if (shape.internals) {
    internal('[internal] load build definition from Dockerfile', ['transferring dockerfile: 1.21kB done', 'DONE 0.0s']);
    internal('[internal] load .dockerignore', ['transferring context: 2B done', 'DONE 0.0s']);
    internal('[internal] load build context', ['transferring context: 245B done', 'DONE 0.0s']);
    internal('importing cache manifest from 127.0.0.1:5000/app-cache:main', ['inferred cache manifest type: application/vnd.oci.image.manifest.v1+json done', 'DONE 0.0s']);
    internal('[auth] sharing credentials for 127.0.0.1:5000', ['DONE 0.0s']);
  }
  shape.platforms.forEach((platform, p) => {
    shape.stages.forEach((stage, s) => {
      const stagePrefix = shape.stages.length > 1 ? `${stage.name ?? `stage-${s}`} ` : '';
      const own = stage.instructions.filter((i) => COUNTED.includes(i.kind)).length;
      const triggers = stage.triggers.filter((i) => COUNTED.includes(i.kind));
      // The frontend counts FROM (an image), ADD, COPY, RUN and WORKDIR; 1.11+ adds the triggers.
      const total = (stage.base === 'image' ? 1 : 0) + own + (modern ? triggers.length : 0);
      if (total === 0) return;
      let plat = '';
      if (prefix) {
        const arch = platform.split('/').slice(1).join('/');
        // A stage pinned to the build platform shows the target after `->` (its arch, or all of it for another OS).
        const target = platform.startsWith('linux/') ? arch : platform;
        plat = modern && stage.cross && platform !== 'linux/amd64' ? `linux/amd64->${target} ` : `${platform} `;
      }
      let index = 0;
      const label = () => `${plat}${stagePrefix}${String(++index).padStart(digits(total), ' ')}/${total}`;
      if (stage.base === 'image') {
        const l = label();
        if (shape.internals) internal(`[${plat ? plat.trim() + ' ' : ''}internal] load metadata for 127.0.0.1:5000/base:1`, ['DONE 0.1s']);
        const lines = [`resolve 127.0.0.1:5000/base:1@sha256:${hex(rand, 64)} 0.0s done`, ...(rand() < 0.5 ? layerLines(rand, shape.flavor, classicStore) : [])];
        internals.push({ name: `[${l}] FROM 127.0.0.1:5000/base:1@sha256:${hex(rand, 64)}`, segments: [[...lines, rand() < 0.3 ? 'CACHED' : done(rand, shape.flavor)]], result: 'ran' });
      }
      const emit = (i: Instruction, onbuild: boolean) => {
        if (!COUNTED.includes(i.kind)) return;
        if (i.kind === 'WORKDIR' && i.root) return; // counted in the total, no vertex
        const l = label();
        const name = `[${l}] ${onbuild && modern ? 'ONBUILD ' : ''}${text(i)}`;
        steps.push(stepVertex(rand, shape.flavor, name, l, i.outcomes[p], classicStore));
        if (i.twin !== 'none') {
          // A twin agrees with its step: a cached step's twin is cached or only fetched layers,
          // a step that ran was run (and shown) by the other build.
          const outcome = i.outcomes[p];
          const twin: Twin = outcome === 'cached' ? (i.twin === 'ran' ? 'layers' : i.twin)
            : outcome === 'layers' ? 'layers'
              : i.twin === 'cached' ? 'ran' : i.twin;
          steps.push(stepVertex(rand, shape.flavor, name, l, twin, classicStore));
        }
      };
      triggers.forEach((i) => emit(i, true));
      stage.instructions.forEach((i) => emit(i, false));
    });
  });
  if (shape.internals) {
    internals.push({ name: 'exporting to image', segments: [['exporting layers 0.1s done', `writing image sha256:${hex(rand, 64)} done`, 'naming to 127.0.0.1:5000/app:latest done', 'DONE 0.1s']], result: 'ran' });
    internals.push({ name: 'exporting cache to registry', segments: [['preparing build cache for export 0.2s done', `writing layer sha256:${hex(rand, 64)} 0.0s done`, 'DONE 0.2s']], result: 'ran' });
  }
  if (shape.failAt !== null && steps.length > 0) {
    // One step fails: the ones after it are canceled while running, or never start.
    const at = Math.min(steps.length - 1, Math.floor(shape.failAt * steps.length));
    const failing = steps[at];
    steps[at] = { ...failing, segments: [failing.segments[0].slice(0, -1).concat('ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2')], result: 'ran' };
  }
  // Internal vertices first and last, steps in between (in any order: the printer interleaves them).
  const head = internals.filter((v) => !v.name.startsWith('exporting'));
  const tail = internals.filter((v) => v.name.startsWith('exporting'));
  return [...head, ...steps, ...tail];
}

/** Renders a shape as BuildKit's plain printer would, and counts its steps. */
export function renderBuildKitLog(shape: BuildKitShape): RenderedLog {
  const rand = prng(shape.seed);
  const modern = shape.flavor === 'buildkit';
  const vertices = buildKitVertices(shape, rand);
  // Docker 20.10 numbers vertices as they reach the client; the current printer as it prints them.
  const order = vertices.map((_, i) => i);
  if (!modern) for (let i = order.length - 1; i > 0; i--) { const j = int(rand, 0, i); [order[i], order[j]] = [order[j], order[i]]; }
  const number = new Map<number, number>();
  if (!modern) order.forEach((v, i) => number.set(v, i + 1));
  const digest = vertices.map(() => `sha256:${hex(rand, 64)}`);

  const out: string[] = modern ? ['#0 building with "default" instance using docker driver', ''] : [];
  let first = true;
  let current: number | undefined;
  /** Per vertex: next segment, next line in it; undefined once it is finished or cut. */
  const position = vertices.map(() => ({ segment: 0, line: 0 }));
  const finished = new Set<number>();
  /** Vertices whose name was printed. */
  const shown = new Set<number>();
  /** Per vertex that printed its name: how it ended. */
  const ended = new Map<number, 'cached' | 'layers' | 'ran'>();
  const sawCached = new Set<number>();
  let failed = false;

  const id = (v: number) => {
    if (!number.has(v)) number.set(v, number.size + 1);
    return number.get(v)!;
  };
  const header = (v: number) => {
    if (current !== undefined && current !== v) {
      const p = position[current];
      if (p.line > 0) out.push(`#${id(current)} ...`);
    }
    if (current !== v) {
      if (!first) out.push('');
      first = false;
      out.push(`#${id(v)} ${vertices[v].name}`);
      shown.add(v);
      if (!modern) out.push(`#${id(v)} ${digest[v]}`);
      current = v;
    }
  };
  const emitLines = (v: number, n: number) => {
    header(v);
    const p = position[v];
    const segment = vertices[v].segments[p.segment];
    for (let k = 0; k < n && p.line < segment.length; k++) {
      const line = segment[p.line++];
      out.push(`#${id(v)} ${line}`);
      if (line === 'CACHED') sawCached.add(v);
      if (line.startsWith('ERROR: ')) failed = true;
    }
    if (p.line === segment.length) {
      // A final line: the vertex is complete; another update starts a new segment with its name.
      current = undefined;
      p.segment++;
      p.line = 0;
      if (p.segment === vertices[v].segments.length) {
        finished.add(v);
        ended.set(v, sawCached.has(v) ? 'cached' : vertices[v].result);
      }
    }
  };

  // Up to four vertices run at a time; the printer switches between them.
  let next = 0;
  const active: number[] = [];
  while ((next < vertices.length || active.length > 0) && !failed) {
    while (active.length < 4 && next < vertices.length && (active.length === 0 || rand() < 0.5)) active.push(next++);
    const k = current !== undefined && active.includes(current) && rand() < 0.6 ? active.indexOf(current) : int(rand, 0, active.length - 1);
    const v = active[k];
    emitLines(v, int(rand, 1, 3));
    if (finished.has(v)) active.splice(active.indexOf(v), 1);
  }
  if (failed) {
    // The other running vertices are canceled; those not started never show up.
    for (const v of active.filter((x) => !finished.has(x) && shown.has(x))) {
      header(v);
      out.push(`#${id(v)} CANCELED`);
      current = undefined;
      // One that printed CACHED before (and was unpacking its layers) still came from the cache.
      ended.set(v, sawCached.has(v) ? 'cached' : 'ran');
    }
    out.push('------', ' > [failing step] RUN make:', '------', 'ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2');
  }

  // Truth, from the outcomes: per label, cached if a vertex printed CACHED or all its vertices only
  // fetched layers; any other ending (ran, failed, canceled) makes it executed.
  const byLabel = new Map<string, ('cached' | 'layers' | 'ran')[]>();
  vertices.forEach((v, i) => {
    if (v.label === undefined || !shown.has(i)) return;
    const how = ended.get(i)!;
    byLabel.set(v.label, [...(byLabel.get(v.label) ?? []), how]);
  });
  let cached = 0;
  const steps: string[] = [];
  for (const [label, hows] of byLabel) {
    const hit = hows.includes('cached') || hows.every((h) => h === 'layers');
    if (hit) cached++;
    steps.push(`[${label}] ${hit ? 'cached' : 'executed'} (${hows.join(', ')})`);
  }
  return { log: out.join('\n') + '\n', cached, executed: byLabel.size - cached, steps };
}

// ------------------------------------------------------------------ Buildah

const BUILDAH_OUTPUT = ['step ran-42', 'STEP is a word here', '--> not a cache line', '[1/2] building', 'Using cache of nothing', 'COMMIT soon'];

/** Renders a shape as `buildah build --layers` prints it, and counts its steps. */
export function renderBuildahLog(shape: BuildahShape): RenderedLog {
  const rand = prng(shape.seed);
  const out: string[] = [];
  const multiPlatform = shape.platforms.length > 1;
  const casings = [(s: string) => s, (s: string) => s.toLowerCase(), (s: string) => s[0] + s.slice(1).toLowerCase()];
  interface Step { line: string; counted: boolean; cached: boolean; output: string[] }
  // Each platform's build, stage by stage (one stage runs at a time).
  const builds = shape.platforms.map((platform, p) => shape.stages.map((stage, s) => {
    const prefix = `${multiPlatform ? `[${platform}] ` : ''}${shape.stages.length > 1 ? `[${s + 1}/${shape.stages.length}] ` : ''}`;
    const from = stage.base === 'scratch' ? 'scratch' : stage.base === 'stage' ? (shape.stages[s - 1].name ?? String(s - 1)) : '127.0.0.1:5000/base:1';
    const all = [...stage.triggers, ...stage.instructions];
    // The stage executor prints the total (children + FROM) while the count stays within it.
    const total = stage.instructions.length + 1;
    const steps: Step[] = [];
    const stepLine = (n: number, body: string) => `${prefix}STEP ${n}${n <= total ? `/${total}` : ''}: ${body}`;
    steps.push({ line: stepLine(1, `FROM ${from}${stage.name ? ` AS ${stage.name}` : ''}`), counted: false, cached: false, output: stage.base === 'image' && rand() < 0.5 ? ['Trying to pull 127.0.0.1:5000/base:1...', 'Getting image source signatures', `Copying blob sha256:${hex(rand, 64)}`, 'Writing manifest to image destination'] : [] });
    all.forEach((i, k) => {
      const t = text(i);
      const written = casings[i.casing](t.split(' ')[0]) + t.slice(t.indexOf(' '));
      const outcome = i.outcomes[p];
      const counted = COUNTED.includes(i.kind);
      const cached = outcome === 'cached' || outcome === 'layers';
      steps.push({ line: stepLine(k + 2, written), counted, cached, output: [] });
    });
    return steps;
  }));

  const failAfter = shape.failAt === null ? Infinity : Math.floor(shape.failAt * builds.flat(2).filter((x) => x.counted).length);
  const refuseAt = shape.exportRefused ? int(rand, 0, Math.max(0, builds.flat(2).length - 1)) : -1;
  let cached = 0;
  let executed = 0;
  let countedSoFar = 0;
  let printed = 0;
  let stopped = false;
  const queue = builds.map((stagesOfPlatform) => [...stagesOfPlatform]);
  // Stages of different platforms may alternate; lines of one stage stay together.
  while (!stopped && queue.some((q) => q.length > 0)) {
    const platformsLeft = queue.filter((q) => q.length > 0);
    const steps = pick(rand, platformsLeft).shift()!;
    for (const [k, step] of steps.entries()) {
      out.push(step.line);
      printed++;
      out.push(...step.output);
      // The failing step is a counted one (a RUN, say): it ran and failed.
      const fails = step.counted && countedSoFar === failAfter;
      if (step.counted) {
        countedSoFar++;
        if (step.cached && !fails) cached++; else executed++;
      }
      if (fails) {
        out.push(`${seconds(rand)} ${pick(rand, BUILDAH_OUTPUT)}`, 'error building at STEP "RUN make": exit status 2', 'Error: building at STEP "RUN make": exit status 2');
        stopped = true;
        break;
      }
      if (k === 0) continue;
      if (step.cached) {
        // Metadata-only instructions get their cache lines too; they are not steps for BuildKit.
        if (rand() < 0.5) out.push(`--> Cache pulled from remote 127.0.0.1:5000/app-cache:${hex(rand, 64)}`);
        out.push(`--> Using cache ${hex(rand, 64)}`, `--> ${hex(rand, 11)}`);
      } else {
        for (let n = int(rand, 0, 3); n > 0; n--) out.push(pick(rand, BUILDAH_OUTPUT));
        out.push(`--> Pushing cache 127.0.0.1:5000/app-cache:${hex(rand, 64)}`);
        if (printed - 1 === refuseAt) {
          // The push is refused: buildah stops, the strategy builds again from local layers.
          out.push('Error: failed pushing cache to ...: StatusCode: 405, Method not allowed', '', 'warning: the build with cache export failed; building again without exporting the cache');
          for (const again of builds.flat()) {
            for (const [j, st] of again.entries()) {
              out.push(st.line);
              if (j > 0) out.push(`--> Using cache ${hex(rand, 64)}`, `--> ${hex(rand, 11)}`);
            }
          }
          stopped = true;
          break;
        }
        out.push(`--> ${hex(rand, 11)}`);
      }
    }
    if (!stopped && queue.every((q) => q.length === 0)) out.push('COMMIT 127.0.0.1:5000/app:latest', `--> ${hex(rand, 11)}`, 'Successfully tagged 127.0.0.1:5000/app:latest', hex(rand, 64));
  }
  return { log: out.join('\n') + '\n', cached, executed };
}
