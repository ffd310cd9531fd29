/** Renders a shape as BuildKit's plain printer would (buildx/Docker 23+, or Docker 20.10), with its counts. */
import { Rand, OUTPUT, digits, hex, int, pick, prng, seconds, text } from './render-helpers';
import { BuildKitFlavor, BuildKitShape, COUNTED, Instruction, RenderedLog, Twin, VertexOutcome } from './shapes';

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
