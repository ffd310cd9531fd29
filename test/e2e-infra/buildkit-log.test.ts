import { parseBuildKitLog } from '../e2e/lib/buildkit-log';

// BuildKit pads a step's number to the width of its stage's step count, after the stage name:
// `[stage-1  7/13]` and `[stage-1 10/13]` are steps of the same stage `stage-1`.
const PADDED_LOG = [
  '#5 [stage-1 10/13] RUN echo "step23 ran-$((6*7))"',
  '#5 CACHED',
  '#6 [stage-1  7/13] RUN echo "step20 ran-$((6*7))"',
  '#6 CACHED',
  '#7 [ 2/12] WORKDIR /src',
  '#7 CACHED',
  '#8 [build  9/11] COPY app.txt .',
  '#8 DONE 0.1s',
  '#9 [stage-1 11/13] COPY --from=build /out/app.txt /app/app.txt',
  '#9 DONE 0.1s',
].join('\n');

test('a padded step number is not part of the stage name, and steps sort by number within their stage', () => {
  // GIVEN a log with padded and unpadded labels
  // WHEN it is parsed
  const records = parseBuildKitLog(PADDED_LOG);

  // THEN each step belongs to its stage, in step order, the final stage last
  expect(records.map((r) => `${r.stage}:${r.step}`)).toEqual([':2', 'build:9', 'stage-1:7', 'stage-1:10', 'stage-1:11']);
  expect(records.filter((r) => r.cached).map((r) => r.step)).toEqual([2, 7, 10]);
});
