/**
 * Reproducible timestamps (`reproducibleTimestamps`): SOURCE_DATE_EPOCH from the commit's time,
 * when the source has git metadata, for the builders that read it (buildx passes the variable to
 * BuildKit as a build argument: the image config's and history's timestamps). Pure: command text.
 *
 * Fallback: a source without git metadata (a CodePipeline zip artifact, an S3 source) gets no
 * SOURCE_DATE_EPOCH, and says so; a SOURCE_DATE_EPOCH the project sets itself is kept.
 */

import { command } from './fragments';

/** Sets and exports SOURCE_DATE_EPOCH when CIB_REPRODUCIBLE is `true`; logs where it came from. */
export const SET_SOURCE_DATE_EPOCH = command(
  'if [ "$CIB_REPRODUCIBLE" != true ]; then true;',
  'elif [ -n "${SOURCE_DATE_EPOCH:-}" ]; then echo "reproducible timestamps: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH (set by the project)";',
  'elif CIB_EPOCH="$(git -C "${CODEBUILD_SRC_DIR:-.}" log -1 --format=%ct HEAD 2>/dev/null)" && [[ "$CIB_EPOCH" =~ ^[0-9]{1,12}$ ]]; then',
  'export SOURCE_DATE_EPOCH="$CIB_EPOCH"; echo "reproducible timestamps: SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH (the commit time)";',
  'else echo "warning: reproducible timestamps: the source has no git metadata (a CodePipeline zip artifact?), so SOURCE_DATE_EPOCH is not set',
  'and the image carries this build\'s time; set SOURCE_DATE_EPOCH in the project to fix it" >&2; fi',
);

/**
 * `--push` in the array CIB_OUTPUT when the build pushes (a pull request built only does not);
 * with SOURCE_DATE_EPOCH set for reproducible timestamps, an image output that also rewrites the
 * layers' file timestamps to it (BuildKit 0.13+ `rewrite-timestamp`).
 */
export const PUSH_OUTPUT_ARRAY_REPRODUCIBLE = command(
  'CIB_OUTPUT=(); if [ "$CIB_PUSH" = true ]; then CIB_OUTPUT=(--push);',
  'if [ "$CIB_REPRODUCIBLE" = true ] && [ -n "${SOURCE_DATE_EPOCH:-}" ]; then',
  'CIB_OUTPUT=(--output "type=image,push=true,rewrite-timestamp=true"); fi; fi;',
);
