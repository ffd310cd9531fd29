/**
 * Reads BuildKit's `--progress=plain` output: which Dockerfile steps were taken from the cache.
 *
 * A step (a vertex named like `#7 [3/7] RUN ...`, `#7 [build  2/14] COPY ...` or
 * `#7 [linux/arm64 build 2/4] ...`) counts as a hit when BuildKit prints `#7 CACHED`, or when
 * each of its vertices did nothing but fetch and unpack layers (`#7 sha256:... done`,
 * `#7 extracting sha256:...`, `#7 pulling sha256:...` on the classic store): with a registry cache
 * on the containerd image store, BuildKit sometimes restores a cached step by downloading its
 * layer instead of printing CACHED. A step that ran prints its own output or nothing but `DONE`.
 * `#7 ...` (the printer left the vertex for another one) and warnings say nothing either way.
 * RUN steps of the harness's sample apps print a marker (`stepN ran-42`) when they execute, so
 * the classification can be cross-checked.
 */

export interface StepRecord {
  /** Vertex id (`#7`). */
  readonly vertex: string;
  /** Stage name (empty for a single-stage Dockerfile). */
  readonly stage: string;
  /** Step number within its stage. */
  readonly step: number;
  readonly total: number;
  /** Dockerfile instruction, e.g. `RUN echo ...`. */
  readonly instruction: string;
  readonly cached: boolean;
  /** Markers printed by RUN steps that executed. */
  readonly markers: string[];
}

/** A step label: `[stage? n/m]`, the number padded to the width of m (`[stage-1  7/13]`): the padding is not part of the stage name. */
const STEP_LINE = /^#(\d+) \[(?:([^\]]*?) +)?(\d+)\/(\d+)\] (.*)$/;
/** A layer being downloaded or unpacked. */
const LAYER_LINE = /^#\d+ (?:(?:extracting|pulling) sha256:[0-9a-f]{64}\b.*|sha256:[0-9a-f]{64} .*)$/;
/**
 * Lines that say nothing about the cache: Docker 20.10's vertex digest line, the printer leaving a
 * vertex unfinished (`...`), warnings, DONE.
 */
const NEUTRAL = /^#\d+ (?:sha256:[0-9a-f]{64}|\.\.\.|WARN: .*|DONE(?: [0-9.]+s)?)$/;
const MARKER = /\b(step\d+) ran-42\b/;

export function parseBuildKitLog(log: string): StepRecord[] {
  // A step is identified by its label ([stage] n/m): BuildKit may show one step as two vertices
  // when a concurrent build on the same engine shares it.
  const steps = new Map<string, { stage: string; step: number; total: number; instruction: string; vertices: string[] }>();
  const labelOf = new Map<string, string>();
  const cached = new Set<string>();
  /** Per vertex: the lines that are not neutral. */
  const other = new Map<string, string[]>();
  for (const line of log.split('\n')) {
    const m = STEP_LINE.exec(line);
    if (m) {
      if (/^FROM /.test(m[5])) continue;
      const label = `${m[2] ?? ''} ${m[3]}/${m[4]}`;
      labelOf.set(m[1], label);
      const entry = steps.get(label) ?? { stage: m[2] ?? '', step: Number(m[3]), total: Number(m[4]), instruction: m[5], vertices: [] };
      if (!entry.vertices.includes(m[1])) entry.vertices.push(m[1]);
      steps.set(label, entry);
      continue;
    }
    const v = /^#(\d+) (.*)$/.exec(line);
    if (!v || !labelOf.has(v[1])) continue;
    const label = labelOf.get(v[1])!;
    if (v[2] === 'CACHED') {
      cached.add(label);
    } else if (!NEUTRAL.test(line)) {
      other.set(v[1], [...(other.get(v[1]) ?? []), line]);
    }
  }
  const records: StepRecord[] = [];
  for (const [label, s] of steps) {
    const lines = s.vertices.flatMap((x) => other.get(x) ?? []);
    const markers = lines.map((l) => MARKER.exec(l)?.[1]).filter((x): x is string => !!x);
    // every vertex of the step fetched or unpacked layers, and did nothing else
    const onlyLayers = s.vertices.every((x) => (other.get(x) ?? []).length > 0 && other.get(x)!.every((l) => LAYER_LINE.test(l)));
    records.push({
      vertex: s.vertices.map((x) => `#${x}`).join(','),
      stage: s.stage,
      step: s.step,
      total: s.total,
      instruction: s.instruction,
      cached: cached.has(label) || onlyLayers,
      markers,
    });
  }
  return records.sort((a, b) => (a.stage === b.stage ? a.step - b.step : a.stage.localeCompare(b.stage)));
}

/** Number of steps (FROM excluded) taken from the cache. */
export function countCached(records: StepRecord[]): number {
  return records.filter((r) => r.cached).length;
}

/**
 * RUN steps whose classification contradicts their marker: a step judged cached that printed
 * its marker, or a RUN step judged executed that printed none.
 */
export function markerContradictions(records: StepRecord[]): string[] {
  return records
    .filter((r) => /^RUN /.test(r.instruction) && /ran-\$\(\(6\*7\)\)/.test(r.instruction))
    .filter((r) => r.cached === r.markers.length > 0)
    .map((r) => `${r.vertex} [${r.stage ? r.stage + ' ' : ''}${r.step}/${r.total}] ${r.cached ? 'judged cached but ran' : 'judged executed but printed no marker'}`);
}

/**
 * Reads Buildah's build output: `STEP n/m: INSTRUCTION` lines, a step being a hit when
 * `--> Using cache` follows it. Only ADD, COPY, RUN and WORKDIR are steps: FROM and instructions
 * that only set metadata (which BuildKit does not show as steps) are left out, so both builders
 * report the same steps.
 */
export function parseBuildahLog(log: string): StepRecord[] {
  const records: { stage: string; step: number; total: number; instruction: string; cached: boolean; markers: string[] }[] = [];
  let current: (typeof records)[number] | undefined;
  for (const line of log.split('\n')) {
    // `STEP 2/8: WORKDIR /app`, or `[1/2] STEP 2/6: WORKDIR /src` in a multi-stage build, after
    // `[linux/arm64] ` for several platforms; `STEP 9: ...` once past the count
    const m = /^(?:\[([^\]]+)\] )?(?:\[(\d+)\/\d+\] )?STEP (\d+)(?:\/(\d+))?: (.*)$/.exec(line);
    if (m) {
      const stage = [m[1], m[2]].filter((x) => x !== undefined).join(' ');
      current = { stage, step: Number(m[3]), total: Number(m[4] ?? m[3]), instruction: m[5], cached: false, markers: [] };
      records.push(current);
      continue;
    }
    if (!current) continue;
    if (/^--> Using cache /.test(line)) current.cached = true;
    const marker = MARKER.exec(line);
    if (marker) current.markers.push(marker[1]);
  }
  return records
    .filter((r) => /^(ADD|COPY|RUN|WORKDIR)\b/i.test(r.instruction))
    .map((r) => ({ vertex: `STEP ${r.stage ? r.stage + ':' : ''}${r.step}`, ...r }));
}
