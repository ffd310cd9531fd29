/** Renders a shape as `buildah build --layers` prints it, with its counts. */
import { hex, int, pick, prng, seconds, text } from './render-helpers';
import { BuildahShape, COUNTED, RenderedLog } from './shapes';

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
