/**
 * The benchmark's flag experiments (issue 16, item 2): a configuration's flags rewritten in the
 * synthesized buildspec before its rounds run. Pure: buildspec phases in, buildspec phases out.
 */
import { BuildSpecPhases } from './codebuild';

/** What a configuration rewrites: keys appended to the cache export's (`--cache-to`), `mode=min` for `mode=max`. */
export interface FlagRewrites {
  readonly cacheTo?: string;
  readonly minMode?: boolean;
}

/** The buildspec phases with the flags rewritten; fails when a flag it rewrites is not in the buildspec. */
export function withFlags(phases: BuildSpecPhases, flags: FlagRewrites): BuildSpecPhases {
  let text = JSON.stringify(phases);
  const replace = (from: string, to: string) => {
    if (!text.includes(from)) throw new Error(`bench: the buildspec has no ${from} to rewrite (the strategy's flags changed: update the experiment)`);
    text = text.split(from).join(to);
  };
  if (flags.cacheTo) replace('ignore-error=true', `ignore-error=true,${flags.cacheTo}`);
  if (flags.minMode) replace('mode=max', 'mode=min');
  return JSON.parse(text) as BuildSpecPhases;
}
