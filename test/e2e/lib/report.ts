/** The harness's own outputs: a markdown table and an SVG chart, drawn from its measurements. */
import { PhaseTimes } from './phases';

export interface RoundResult {
  readonly config: string;
  readonly round: number;
  readonly scenario: string;
  readonly exitCode: number;
  readonly cached: number;
  /** Steps whose inputs did not change since the cached build: the most that can hit. */
  readonly cacheable: number;
  readonly seconds: number;
  readonly digest: string;
  readonly phases?: PhaseTimes;
}

const PHASES: [keyof PhaseTimes, string][] = [
  ['builderStart', 'builder start'], ['cacheImport', 'cache import'], ['build', 'build'], ['push', 'push'],
  ['cacheExport', 'cache export'], ['total', 'whole buildspec'],
];

/** Per configuration: the cold round (1) and the mean of the warm app-change rounds (2-5), per phase. */
export function phaseTable(results: RoundResult[], configs: string[]): string {
  const lines = [`| configuration | round | ${PHASES.map(([, h]) => h).join(' | ')} | rest (logins, report) |`, `|---|---|${PHASES.map(() => '---').join('|')}|---|`];
  const fmt = (xs: (number | undefined)[]) => {
    const v = xs.filter((x): x is number => x !== undefined);
    return v.length === 0 ? '-' : (v.reduce((a, x) => a + x, 0) / v.length).toFixed(1);
  };
  for (const c of configs) {
    const rs = results.filter((x) => x.config === c && x.exitCode === 0 && x.phases);
    for (const [label, rounds] of [['cold (1)', [1]], ['warm (2-5)', [2, 3, 4, 5]]] as const) {
      const sel = rs.filter((x) => (rounds as readonly number[]).includes(x.round));
      if (sel.length === 0) continue;
      const rest = sel.map((x) => x.phases!.total - PHASES.reduce((a, [k]) => (k === 'total' ? a : a + (x.phases![k] ?? 0)), 0));
      lines.push(`| ${c} | ${label} | ${PHASES.map(([k]) => fmt(sel.map((x) => x.phases![k]))).join(' | ')} | ${fmt(rest)} |`);
    }
  }
  return lines.join('\n');
}

export function markdownTable(rounds: { round: number; scenario: string }[], configs: string[], results: RoundResult[]): string {
  const find = (c: string, r: number) => results.find((x) => x.config === c && x.round === r);
  const head = ['round', 'scenario', ...configs.map((c) => `${c}: CACHED / cacheable`), ...configs.map((c) => `${c}: s`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const { round, scenario } of rounds) {
    const cells = configs.map((c) => {
      const x = find(c, round);
      return x ? `${x.cached} / ${x.cacheable}${x.exitCode === 0 ? '' : ` (exit ${x.exitCode})`}` : '';
    });
    const secs = configs.map((c) => (find(c, round) ? find(c, round)!.seconds.toFixed(1) : ''));
    lines.push(`| ${round} | ${scenario} | ${cells.join(' | ')} | ${secs.join(' | ')} |`);
  }
  return lines.join('\n');
}

const COLORS = ['#d62728', '#1f77b4', '#7f7f7f', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Grouped bars: CACHED steps per round, one bar per configuration. */
export function svgChart(title: string, rounds: number[], configs: string[], results: RoundResult[], maxSteps: number): string {
  const W = 760, H = 320, left = 50, right = 170, top = 40, bottom = 40;
  const plotW = W - left - right, plotH = H - top - bottom;
  const groupW = plotW / rounds.length;
  const barW = Math.max(4, (groupW - 8) / configs.length);
  const y = (v: number) => top + plotH - (v / maxSteps) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`);
  for (let v = 0; v <= maxSteps; v++) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  rounds.forEach((round, i) => {
    const gx = left + i * groupW + 4;
    configs.forEach((c, j) => {
      const r = results.find((x) => x.config === c && x.round === round);
      if (!r) return;
      const h = Math.max(1.5, (r.cached / maxSteps) * plotH);
      parts.push(`<rect x="${(gx + j * barW).toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[j % COLORS.length]}"><title>${escape(c)} round ${round}: ${r.cached}/${r.cacheable}</title></rect>`);
    });
    parts.push(`<text x="${(gx + (groupW - 8) / 2).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${round}</text>`);
  });
  parts.push(`<text x="${left + plotW / 2}" y="${H - 6}" text-anchor="middle">round</text>`);
  parts.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">CACHED steps</text>`);
  configs.forEach((c, j) => {
    const ly = top + 10 + j * 20;
    parts.push(`<rect x="${left + plotW + 16}" y="${ly - 9}" width="12" height="12" fill="${COLORS[j % COLORS.length]}"/>`);
    parts.push(`<text x="${left + plotW + 34}" y="${ly + 1}">${escape(c)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
