/**
 * Per-phase times of one buildspec run, from the runner's timed output (arrival time of every
 * line) and the builder's own progress lines:
 *
 * - builder start: the `docker buildx create ... --bootstrap` command (image pull included);
 * - cache import: BuildKit's `importing cache manifest from ...` vertices, first line to last;
 *   Buildah: from each `STEP` line to its `--> Cache pulled from remote` line;
 * - build: BuildKit's Dockerfile step vertices (`[n/m] ...`, FROM included: layer downloads of
 *   cached steps count here), first line to last; Buildah: the build command less import and export;
 * - push: BuildKit's `exporting to image` vertex when it pushes (registry strategy), else the
 *   `docker push` / `buildah push` commands of the image;
 * - cache export: BuildKit's `exporting cache to registry` vertex; inline: the command that pushes
 *   the cache tag; Buildah: from each `--> Pushing cache` line to the next line;
 * - total: the whole buildspec.
 *
 * Line times are when the runner read the line, to about 10 ms; a phase that did not happen is
 * undefined.
 */
import { TimedLine } from './codebuild';

export interface PhaseTimes {
  readonly builderStart?: number;
  readonly cacheImport?: number;
  readonly build?: number;
  readonly push?: number;
  readonly cacheExport?: number;
  readonly total: number;
}

interface Span { start: number; end: number }

/** Each command's lines: from its `[Container] Running command` line to the next `[Container]` line. */
export function commandSpans(timed: TimedLine[]): { command: string; start: number; end: number; lines: TimedLine[] }[] {
  const out: { command: string; start: number; end: number; lines: TimedLine[] }[] = [];
  let current: (typeof out)[number] | undefined;
  for (const t of timed) {
    const m = /^\[Container\] (.*)$/.exec(t.line);
    if (m) {
      if (current) current.end = t.ms;
      current = undefined;
      const run = /^Running command (.*)$/.exec(m[1]);
      if (run) {
        current = { command: run[1], start: t.ms, end: t.ms, lines: [] };
        out.push(current);
      }
      continue;
    }
    if (current) {
      current.lines.push(t);
      current.end = t.ms;
    }
  }
  return out;
}

/** BuildKit vertices of one build command: name (first line) and first/last line time. */
function vertices(lines: TimedLine[]): Map<string, { name: string; span: Span }> {
  const v = new Map<string, { name: string; span: Span }>();
  for (const t of lines) {
    const m = /^#(\d+) (.*)$/.exec(t.line);
    if (!m) continue;
    const e = v.get(m[1]);
    if (e) e.span.end = t.ms;
    else v.set(m[1], { name: m[2], span: { start: t.ms, end: t.ms } });
  }
  return v;
}

function cover(spans: Span[]): number | undefined {
  if (spans.length === 0) return undefined;
  return (Math.max(...spans.map((s) => s.end)) - Math.min(...spans.map((s) => s.start))) / 1000;
}
function sum(spans: Span[]): number | undefined {
  return spans.length === 0 ? undefined : spans.reduce((a, s) => a + s.end - s.start, 0) / 1000;
}

export function phaseTimes(timed: TimedLine[], totalSeconds: number): PhaseTimes {
  const commands = commandSpans(timed);
  const create = commands.filter((c) => /docker buildx create /.test(c.command));
  const build = commands.find((c) => /(docker buildx build|docker build|buildah build) /.test(c.command));
  const imagePushes = commands.filter((c) => /^(docker push|buildah push) /.test(c.command));
  const inlineCachePush = commands.filter((c) => /CIB_INLINE_TAG=/.test(c.command));
  const result: { -readonly [K in keyof PhaseTimes]: PhaseTimes[K] } = { total: totalSeconds, builderStart: sum(create) };
  if (!build) return result;

  if (/buildah build /.test(build.command)) {
    const imports: Span[] = [];
    const exports: Span[] = [];
    let stepStart: number | undefined;
    build.lines.forEach((t, i) => {
      if (/^(\[\d+\/\d+\] )?STEP \d+\/\d+: /.test(t.line)) stepStart = t.ms;
      if (/^--> Cache pulled from remote /.test(t.line) && stepStart !== undefined) imports.push({ start: stepStart, end: t.ms });
      if (/^--> Pushing cache /.test(t.line)) exports.push({ start: t.ms, end: build.lines[i + 1]?.ms ?? t.ms });
    });
    result.cacheImport = sum(imports);
    result.cacheExport = sum(exports);
    result.build = (build.end - build.start) / 1000 - (result.cacheImport ?? 0) - (result.cacheExport ?? 0);
    result.push = sum(imagePushes);
    return result;
  }

  const v = [...vertices(build.lines).values()];
  result.cacheImport = cover(v.filter((x) => /^importing cache manifest from /.test(x.name)).map((x) => x.span));
  result.build = cover(v.filter((x) => /^\[(?:[^\]]*? )?\d+\/\d+\] /.test(x.name)).map((x) => x.span));
  const exportImage = v.filter((x) => x.name === 'exporting to image');
  const pushed = exportImage.length > 0 && build.lines.some((t) => /^#\d+ pushing layers/.test(t.line));
  result.push = pushed ? cover(exportImage.map((x) => x.span)) : sum(imagePushes);
  result.cacheExport = cover(v.filter((x) => /^exporting cache to registry/.test(x.name)).map((x) => x.span)) ?? sum(inlineCachePush);
  return result;
}
