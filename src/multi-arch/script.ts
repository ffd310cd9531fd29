import { PlatformTarget } from './platforms';
import { RESOLVE_BUILD_CONTEXT } from '../script/build-context';
import { BuildScript } from '../script/build-script';
import { PUBLISH_METRICS } from '../script/cache-report';
import { LOGIN_IMAGE_REGISTRY, REQUIRE_DIGEST, command } from '../script/fragments';

/**
 * The build script of a multi-architecture build: one buildspec for every step, chosen by the
 * variable CIB_STEP that the batch build graph (standalone) or the CodePipeline action sets:
 * - `build`: one architecture (CIB_PLATFORM, CIB_ARCH) built natively, with its own cache scopes
 *   (the single-platform scopes with `-<arch>` appended) and its image pushed under each tag of the
 *   build with `-<arch>` appended (`<commit>-arm64`, `latest-arm64`);
 * - `index`: after the architectures, the image index (`docker buildx imagetools create`, no
 *   attestations) of their images, by digest, under the tags the single-platform build pushes.
 *
 * Pure: made from the single-platform script, whose commands it keeps in their order; the
 * commands of one step are guarded (`if [ "$CIB_STEP" = build ]; then ...; fi`), so each is still
 * one self-contained line.
 */

/** The steps of a multi-architecture build. */
export const STEP_BUILD = 'build';
export const STEP_INDEX = 'index';

/** Pipeline variables of the index step beyond the single-platform build's: each architecture's image, by digest. */
export function platformUriVariable(target: PlatformTarget): string {
  return `IMAGE_URI_${target.arch.toUpperCase()}`;
}

/** Runs `cmd` only in the given step. */
export function onlyIn(step: string, cmd: string): string {
  return `if [ "$CIB_STEP" = ${step} ]; then ${cmd}; fi`;
}

/** Fails a build started without a step: a standalone project runs as a batch build. */
const REQUIRE_STEP = command(
  'case "${CIB_STEP:-}" in (build|index) ;; (*) echo "error: this project builds a multi-architecture image in steps',
  '(CIB_STEP build or index, set by its batch build graph or its CodePipeline actions); it was started as a single build.',
  'Start it as a batch build (aws codebuild start-build-batch, or webhookTriggersBatchBuild: true on the source)" >&2; false ;; esac',
);

/** A build step says which architecture it builds, and warns when the host is another one (emulation: slow, but the same image). */
const ANNOUNCE_ARCH = onlyIn(STEP_BUILD, command(
  'h="$(uname -m)"; case "$h" in (x86_64) h=amd64 ;; (aarch64) h=arm64 ;; esac;',
  'echo "multi-architecture build: $CIB_PLATFORM (cache scopes and image tags end in -$CIB_ARCH)";',
  'if [ "$h" != "$CIB_ARCH" ]; then echo "warning: building $CIB_PLATFORM on a $h host: RUN steps are emulated" >&2; fi',
));

/** The architecture's own cache scopes: each scope of the build context with `-<arch>` appended. */
export const ARCH_CACHE_SCOPES = onlyIn(STEP_BUILD, command(
  'if [ -n "$CIB_CACHE_WRITE_SCOPE" ]; then CIB_CACHE_WRITE_SCOPE="$CIB_CACHE_WRITE_SCOPE-$CIB_ARCH"; fi;',
  's=""; for x in $CIB_CACHE_READ_SCOPES; do s="$s $x-$CIB_ARCH"; done; CIB_CACHE_READ_SCOPES="${s# }";',
  'if [ -n "$CIB_CACHE_SCOPE" ]; then export CACHE_SCOPE="$CIB_CACHE_SCOPE-$CIB_ARCH"; fi;',
  'echo "$CIB_ARCH cache scopes: writes ${CIB_CACHE_WRITE_SCOPE:-nothing}, reads $CIB_CACHE_READ_SCOPES"',
));

/**
 * The architecture's image tags: each tag of the build with `-<arch>` appended. The index step
 * finds the images by the first of them, so both steps must name the same commit: the
 * `build-<number>` fallback (no resolved source version) differs from build to build.
 */
export const ARCH_IMAGE_TAGS = command(
  'if [ "$CIB_PUSH" = true ] && [[ "${CIB_COMMIT_TAG:-}" == build-* && " $CIB_PUSH_TAGS " == *" $CIB_COMMIT_TAG "* ]]; then',
  'echo "error: a multi-architecture build names its images by the commit, and this build has no resolved source version',
  '(CODEBUILD_RESOLVED_SOURCE_VERSION): build a commit of a Git source" >&2; false;',
  `elif [ "$CIB_STEP" = ${STEP_BUILD} ] && [ "$CIB_PUSH" = true ]; then`,
  'CIB_INDEX_TAGS="$CIB_PUSH_TAGS"; CIB_PUSH_TAGS=""; for t in $CIB_INDEX_TAGS; do CIB_PUSH_TAGS="$CIB_PUSH_TAGS $t-$CIB_ARCH"; done;',
  'CIB_PUSH_TAGS="${CIB_PUSH_TAGS# }"; export IMAGE_TAG="$IMAGE_TAG-$CIB_ARCH"; export IMAGE_URI="$CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG";',
  'echo "$CIB_ARCH image tags: $CIB_PUSH_TAGS"; fi',
);

/** The first `"digest"` of `docker buildx imagetools inspect --format '{{json .Manifest}}'`: the manifest's or index's own. */
const FIRST_DIGEST = 'sed -n \'s/.*"digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p\' | head -n 1';

/** Index step: the architecture's image, by digest, found by its per-architecture tag; exported as IMAGE_URI_<ARCH>. */
function resolveArchImage(target: PlatformTarget): string {
  const digest = `CIB_DIGEST_${target.arch.toUpperCase()}`;
  return onlyIn(STEP_INDEX, command(
    `${digest}=""; if [ "$CIB_PUSH" = true ]; then set -o pipefail;`,
    `${digest}="$(docker buildx imagetools inspect "$CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG-${target.arch}"`,
    `--format '{{json .Manifest}}' | ${FIRST_DIGEST})"`,
    `|| ${digest}="";`,
    `if [ -z "$${digest}" ]; then echo "error: no ${target.platform} image at $CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG-${target.arch}:`,
    `the ${target.arch} build did not push it (see that build's log)" >&2; false;`,
    `else export ${platformUriVariable(target)}="$CIB_IMAGE_REPOSITORY_URI@$${digest}";`,
    `echo "${target.platform} image: $CIB_IMAGE_REPOSITORY_URI@$${digest}"; fi; fi`,
  ));
}

/** Index step: the image index of the architectures' images (by digest), pushed under every tag of the build. No attestations. */
function createIndex(targets: PlatformTarget[]): string {
  const sources = targets.map((t) => `"$${platformUriVariable(t)}"`).join(' ');
  return onlyIn(STEP_INDEX, command(
    'if [ "$CIB_PUSH" = true ]; then',
    'CIB_TAGS=(); for t in $CIB_PUSH_TAGS; do CIB_TAGS+=(--tag "$CIB_IMAGE_REPOSITORY_URI:$t"); done;',
    `docker buildx imagetools create "\${CIB_TAGS[@]}" ${sources};`,
    'else echo "pull request: building only, no image index"; fi',
  ));
}

/** Index step: the index's digest (IMAGE_DIGEST), and a check that it lists every architecture's image. */
function indexDigest(targets: PlatformTarget[]): string {
  const digests = targets.map((t) => `"$CIB_DIGEST_${t.arch.toUpperCase()}"`).join(' ');
  return onlyIn(STEP_INDEX, command(
    'export IMAGE_DIGEST=""; if [ "$CIB_PUSH" = true ]; then set -o pipefail;',
    'CIB_INDEX_JSON="$(docker buildx imagetools inspect "$IMAGE_URI" --format \'{{json .Manifest}}\')" || CIB_INDEX_JSON="";',
    `IMAGE_DIGEST="$(printf '%s\\n' "$CIB_INDEX_JSON" | ${FIRST_DIGEST})"; m="";`,
    `for d in ${digests}; do if [[ "$CIB_INDEX_JSON" != *"\\"$d\\""* ]]; then m="$m $d"; fi; done;`,
    'if [ -n "$m" ]; then echo "error: the image index at $IMAGE_URI does not list the images$m" >&2; false;',
    'else echo "image index $IMAGE_URI ($IMAGE_DIGEST)"; fi; fi',
  ));
}

/**
 * The multi-architecture script from the single-platform one. `tagSelectionEnd` is the last
 * command of the single-platform tag selection (after which the tags are known).
 */
export function renderMultiArchScript(base: BuildScript, targets: PlatformTarget[], tagSelectionEnd: string): BuildScript {
  const pre = base.phases.pre_build;
  const contextEnd = pre.indexOf(RESOLVE_BUILD_CONTEXT[RESOLVE_BUILD_CONTEXT.length - 1]);
  const tagsEnd = pre.indexOf(tagSelectionEnd);
  if (contextEnd < 0 || tagsEnd < contextEnd) {
    throw new Error('internal error: the single-platform script has no build context or tag selection to extend');
  }
  const build = (cmds: string[]) => cmds.map((c) => onlyIn(STEP_BUILD, c));
  const preBuild = [
    REQUIRE_STEP,
    ...pre.slice(0, contextEnd + 1),
    ANNOUNCE_ARCH,
    ARCH_CACHE_SCOPES,
    ...pre.slice(contextEnd + 1, tagsEnd + 1),
    ARCH_IMAGE_TAGS,
    ...build(pre.slice(tagsEnd + 1)),
    onlyIn(STEP_INDEX, LOGIN_IMAGE_REGISTRY),
  ];
  const post = base.phases.post_build;
  return {
    phases: {
      install: build(base.phases.install),
      pre_build: preBuild,
      build: [
        ...build(base.phases.build),
        ...targets.map(resolveArchImage),
        createIndex(targets),
        indexDigest(targets),
        onlyIn(STEP_INDEX, REQUIRE_DIGEST),
      ],
      // The deploy files (the index in the index step), then each architecture's metrics.
      post_build: post.map((c) => (c.includes(PUBLISH_METRICS) ? onlyIn(STEP_BUILD, c.replace(PUBLISH_METRICS, publishPlatformMetrics())) : c)),
    },
    // Reusing an existing image (existing-image.ts) is not wired through the architecture steps and the index yet: off.
    environment: { ...base.environment, CIB_REUSE_IMAGE: 'false', CIB_ARCHITECTURES: targets.map((t) => t.arch).join(' ') },
    exportedVariables: [...base.exportedVariables, ...targets.map(platformUriVariable)],
    artifactFiles: base.artifactFiles,
  };
}

/** The single-platform metrics, then the same with the dimension Platform (`linux/arm64`) added. */
function publishPlatformMetrics(): string {
  const platformDims = PUBLISH_METRICS.replace(
    'CIB_DIMS="[{',
    'CIB_DIMS="[{\\"Name\\":\\"Platform\\",\\"Value\\":\\"$CIB_PLATFORM\\"},{',
  );
  if (platformDims === PUBLISH_METRICS) {
    throw new Error('internal error: the metrics command has no dimensions to extend');
  }
  return `${PUBLISH_METRICS}; ${platformDims}`;
}
