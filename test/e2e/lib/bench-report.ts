/**
 * The benchmark's report (test/e2e/bench.ts): per size, a table of every configuration's rounds
 * with ratios against the same-machine limit of the same run, a phase table, and an SVG chart of
 * warm time against image size. Pure functions of the measured rounds.
 */
import { PhaseTimes } from './phases';

export type BenchScenario = 'cold' | 'app' | 'deps';

export interface BenchRound {
  /** The sample app, e.g. `single-stage, 5 steps`. */
  readonly app: string;
  /** Bytes of its large layers. */
  readonly bytes: number;
  readonly config: string;
  readonly scenario: BenchScenario;
  readonly exitCode: number;
  readonly seconds: number;
  readonly phases?: PhaseTimes;
  /** Steps cached (the build's own summary line; the builder's CACHED lines for the control and the limit). */
  readonly cached: number;
  readonly steps: number;
  /** Steps that can be cached in this round with this configuration. */
  readonly expectedCached: number;
  /** Bytes through the ECR proxy: uploaded by the build, downloaded by it, and blob mounts. */
  readonly up: number;
  readonly down: number;
  readonly mounts: number;
}

/** The same-host rebuild: the limit every configuration is compared with. */
export const LIMIT = 'same-host limit';

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1e9) return `${+(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${+(bytes / 1e6).toFixed(0)} MB`;
  return `${+(bytes / 1e3).toFixed(0)} kB`;
}
const mb = (b: number) => (b / 1e6).toFixed(b >= 1e7 ? 0 : 1);
const s1 = (x: number) => (Number.isFinite(x) ? x.toFixed(x >= 10 ? 1 : 2) : '-');

function select(rounds: BenchRound[], app: string, bytes: number, config: string, scenario: BenchScenario): BenchRound[] {
  return rounds.filter((r) => r.app === app && r.bytes === bytes && r.config === config && r.scenario === scenario && r.exitCode === 0);
}

/** Median whole-buildspec time of a configuration's successful rounds of one scenario. */
export function medianSeconds(rounds: BenchRound[], app: string, bytes: number, config: string, scenario: BenchScenario): number {
  return median(select(rounds, app, bytes, config, scenario).map((r) => r.seconds));
}

/** The limit of an app at a size: its same-host warm rebuild (app change), and that rebuild's push. */
export function limitOf(rounds: BenchRound[], app: string, bytes: number): { total: number; push: number } {
  const warm = select(rounds, app, bytes, LIMIT, 'app');
  return { total: median(warm.map((r) => r.seconds)), push: median(warm.map((r) => r.phases?.push ?? NaN).filter(Number.isFinite)) };
}

export function ratio(x: number, limit: number): string {
  return Number.isFinite(x) && Number.isFinite(limit) && limit > 0 ? `${(x / limit).toFixed(1)}×` : '-';
}

function failures(rs: BenchRound[]): string {
  const failed = rs.filter((r) => r.exitCode !== 0);
  return failed.length ? ` (${failed.length} failed)` : '';
}

/**
 * One table per size: per app and configuration, cold / warm (app change, median) / dependency
 * change times with the warm ratio against the limit, cache hits, and the bytes through the proxy.
 */
export function sizeTable(rounds: BenchRound[], bytes: number, apps: string[], configs: string[]): string {
  const head = ['app', 'configuration', 'cold s', 'warm s (app change, median)', 'warm ÷ limit', 'dependency change s', 'deps ÷ limit',
    'cached warm / possible', 'cold MB up', 'warm MB down', 'warm MB up'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const app of apps) {
    const limit = limitOf(rounds, app, bytes);
    for (const config of [...configs, LIMIT]) {
      const all = rounds.filter((r) => r.app === app && r.bytes === bytes && r.config === config);
      if (all.length === 0) continue;
      const cold = select(rounds, app, bytes, config, 'cold');
      const warm = select(rounds, app, bytes, config, 'app');
      const deps = select(rounds, app, bytes, config, 'deps');
      const warmS = median(warm.map((r) => r.seconds));
      const depsS = median(deps.map((r) => r.seconds));
      const hits = warm.length ? `${Math.min(...warm.map((r) => r.cached))} / ${warm[0].expectedCached}${warm.some((r) => r.cached < r.expectedCached) ? ' !' : ''}` : '-';
      lines.push(`| ${app} | ${config}${failures(all)} | ${s1(median(cold.map((r) => r.seconds)))} | ${s1(warmS)} | ${config === LIMIT ? '1.0×' : ratio(warmS, limit.total)} | ` +
        `${s1(depsS)} | ${ratio(depsS, limit.total)} | ${hits} | ${cold.length ? mb(median(cold.map((r) => r.up))) : '-'} | ` +
        `${warm.length ? mb(median(warm.map((r) => r.down))) : '-'} | ${warm.length ? mb(median(warm.map((r) => r.up))) : '-'} |`);
    }
  }
  return lines.join('\n');
}

const PHASES: [keyof PhaseTimes, string][] = [
  ['builderStart', 'builder start'], ['cacheImport', 'cache import'], ['build', 'steps (layer download, extraction, execution)'], ['push', 'push'],
  ['cacheExport', 'cache export'], ['total', 'whole buildspec'],
];

/** Per app and configuration: the median of each phase over the warm (app change) rounds. */
export function phaseTable(rounds: BenchRound[], bytes: number, apps: string[], configs: string[]): string {
  const lines = [`| app | configuration | ${PHASES.map(([, h]) => h).join(' | ')} |`, `|---|---|${PHASES.map(() => '---').join('|')}|`];
  for (const app of apps) {
    for (const config of [...configs, LIMIT]) {
      const warm = select(rounds, app, bytes, config, 'app').filter((r) => r.phases);
      if (warm.length === 0) continue;
      const cells = PHASES.map(([k]) => {
        const v = warm.map((r) => r.phases![k]).filter((x): x is number => x !== undefined);
        return v.length ? s1(median(v)) : '-';
      });
      lines.push(`| ${app} | ${config} | ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#7f7f7f', '#000000'];

/** Lines on log-log axes: warm time (app change, median) against image size, one line per configuration. */
export function warmChart(title: string, rounds: BenchRound[], app: string, configs: string[]): string {
  const W = 760, H = 380, left = 60, right = 250, top = 40, bottom = 50;
  const sizes = [...new Set(rounds.filter((r) => r.app === app).map((r) => r.bytes))].sort((a, b) => a - b);
  const series = [...configs, LIMIT].map((c) => ({ config: c, points: sizes.map((b) => ({ b, s: medianSeconds(rounds, app, b, c, 'app') })).filter((p) => Number.isFinite(p.s)) }))
    .filter((x) => x.points.length > 0);
  const all = series.flatMap((x) => x.points.map((p) => p.s));
  const lo = Math.log10(Math.max(0.05, Math.min(...all, 1) * 0.8));
  const hi = Math.log10(Math.max(...all, 1) * 1.25);
  const xlo = Math.log10(sizes[0] ?? 1) - 0.15;
  const xhi = Math.log10(sizes[sizes.length - 1] ?? 10) + 0.15;
  const px = (b: number) => left + ((Math.log10(b) - xlo) / (xhi - xlo || 1)) * (W - left - right);
  const py = (s: number) => H - bottom - ((Math.log10(s) - lo) / (hi - lo || 1)) * (H - top - bottom);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${left}" y="20" font-size="14">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="black"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">image size (large layers, log scale)</text>`,
    `<text x="14" y="${(top + H - bottom) / 2}" transform="rotate(-90 14 ${(top + H - bottom) / 2})" text-anchor="middle">warm rebuild s (log scale)</text>`];
  for (const b of sizes) {
    out.push(`<line x1="${px(b)}" y1="${H - bottom}" x2="${px(b)}" y2="${H - bottom + 5}" stroke="black"/>`,
      `<text x="${px(b)}" y="${H - bottom + 18}" text-anchor="middle">${sizeLabel(b)}</text>`);
  }
  for (const t of [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200]) {
    if (Math.log10(t) < lo || Math.log10(t) > hi) continue;
    out.push(`<line x1="${left - 5}" y1="${py(t)}" x2="${W - right}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  series.forEach((x, i) => {
    const color = x.config === LIMIT ? '#000000' : COLORS[i % COLORS.length];
    const dash = x.config === LIMIT ? ' stroke-dasharray="6 4"' : '';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2"${dash} points="${x.points.map((p) => `${px(p.b).toFixed(1)},${py(p.s).toFixed(1)}`).join(' ')}"/>`);
    for (const p of x.points) out.push(`<circle cx="${px(p.b).toFixed(1)}" cy="${py(p.s).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = top + 10 + i * 18;
    out.push(`<line x1="${W - right + 15}" y1="${ly}" x2="${W - right + 40}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${W - right + 46}" y="${ly + 4}">${esc(x.config)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
