/**
 * What a build executed, judged by its effects rather than by the builder's `CACHED` lines.
 *
 * - A RUN step of the sample apps executed when it printed its marker (`stepN ran-42`).
 * - A step of the final stage executed when its layer in the pushed image is new: the registry
 *   did not hold that blob before the round. A cached step's layer is the one an earlier build
 *   exported (to the cache or with its image); a step that runs again writes new file times, so a
 *   new blob.
 * - Steps of other stages that are not RUN steps leave no such trace (their layers are only in
 *   the cache export): for them the log's classification stands, and the verdict says so.
 *
 * A step counts as cached when nothing shows that it executed.
 */
import { StepRecord } from './buildkit-log';

/** The pushed image, as the registry serves it. */
export interface PushedImage {
  /** Layer digests of the manifest, in order. */
  readonly layers: string[];
  /** The config's history entries, in order. */
  readonly history: { readonly created_by?: string; readonly empty_layer?: boolean }[];
}

export interface StepVerdict {
  readonly record: StepRecord;
  readonly executed: boolean;
  /** What the verdict rests on: `marker`, `new layer`, `known layer`, `no marker`, `log only`. */
  readonly evidence: string[];
}

/** History entries that only set metadata: no layer and no step record. */
const METADATA = /^(?:\/bin\/sh -c #\(nop\) )?(?:CMD|ENTRYPOINT|ENV|LABEL|EXPOSE|USER|ARG|STOPSIGNAL|HEALTHCHECK|SHELL|VOLUME|ONBUILD|MAINTAINER)\b/;

export interface ExecutionOptions {
  readonly records: StepRecord[];
  readonly image?: PushedImage;
  /** The base image (the final stage's FROM). */
  readonly base?: PushedImage;
  /** Blob digests the registry held before the round. */
  readonly blobsBefore?: Set<string>;
  /** RUN markers are this build's own (false when another build on the same engine shares its steps). */
  readonly markersAreOwn: boolean;
}

export interface Execution {
  readonly verdicts: StepVerdict[];
  /** Steps with no sign of execution. */
  readonly cached: number;
  /** Why the layers could not be matched to steps, if they could not. */
  readonly layerProblem?: string;
}

export function judgeExecution(o: ExecutionOptions): Execution {
  const layerNew = new Map<StepRecord, boolean>();
  let layerProblem: string | undefined;
  if (o.image && o.base && o.blobsBefore) {
    const history = o.image.history.slice(o.base.history.length).filter((h) => !METADATA.test(h.created_by ?? ''));
    const layers = o.image.layers.slice(o.base.layers.length);
    // the final stage's records are the last ones (records are sorted by stage, the final stage last)
    const finalRecords = o.records.slice(o.records.length - history.length);
    const withLayer = history.filter((h) => !h.empty_layer).length;
    if (history.length > o.records.length || withLayer !== layers.length) {
      layerProblem = `${history.length} history entries with ${withLayer} layers after the base, ${layers.length} layers, ${o.records.length} steps`;
    } else {
      let li = 0;
      history.forEach((h, i) => {
        if (!h.empty_layer) layerNew.set(finalRecords[i], !o.blobsBefore!.has(layers[li++]));
      });
    }
  } else {
    layerProblem = 'no pushed image';
  }

  const verdicts = o.records.map((record) => {
    const evidence: string[] = [];
    let executed = false;
    const isMarkedRun = /^RUN /.test(record.instruction) && /ran-\$\(\(6\*7\)\)/.test(record.instruction);
    if (isMarkedRun && o.markersAreOwn) {
      executed ||= record.markers.length > 0;
      evidence.push(record.markers.length > 0 ? 'marker' : 'no marker');
    }
    if (layerNew.has(record)) {
      executed ||= layerNew.get(record)!;
      evidence.push(layerNew.get(record) ? 'new layer' : 'known layer');
    }
    if (evidence.length === 0) {
      executed = !record.cached;
      evidence.push('log only');
    }
    return { record, executed, evidence };
  });
  return { verdicts, cached: verdicts.filter((v) => !v.executed).length, layerProblem };
}

/** Steps whose log classification (CACHED or only layer downloads) contradicts what executed. */
export function logDisagreements(execution: Execution): string[] {
  return execution.verdicts
    .filter((v) => v.record.cached === v.executed)
    .map((v) => `${v.record.vertex} [${v.record.stage ? v.record.stage + ' ' : ''}${v.record.step}/${v.record.total}] ` +
      `log says ${v.record.cached ? 'cached' : 'executed'}, ${v.evidence.join(' + ')}`);
}

/** `1:C 2:- ...`: per step, cached (C) or executed (-) by what executed, with `!` where the log disagrees. */
export function verdictMask(execution: Execution): string {
  return execution.verdicts
    .map((v) => `${v.record.stage ? v.record.stage + ' ' : ''}${v.record.step}:${v.executed ? '-' : 'C'}${v.record.cached === v.executed ? '!' : ''}`)
    .join(' ');
}
