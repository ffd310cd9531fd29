/**
 * Shell fragments shared by the cache strategies, and the helper that joins the parts of one
 * command. Every command stays one self-contained line (CodeBuild carries only scalar variables
 * from one command to the next); long ones are written here as lists of parts, one idea a part.
 */

/** One command from its parts, joined with single spaces. */
export function command(...parts: string[]): string {
  return parts.join(' ');
}

/** Logs in to the image registry (the token goes through a pipe, never on a command line). */
export const LOGIN_IMAGE_REGISTRY = command(
  'set -o pipefail;',
  'aws ecr get-login-password --region "$CIB_IMAGE_REGION"',
  '| docker login --username AWS --password-stdin "$CIB_IMAGE_REGISTRY"',
);

/** Logs in to the cache registry when it differs; the cache is optional, so a failure only costs the cache. */
export const LOGIN_CACHE_REGISTRY = command(
  'if [ -n "${CIB_CACHE_REGISTRY:-}" ] && [ "$CIB_CACHE_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then set -o pipefail;',
  'aws ecr get-login-password --region "$CIB_CACHE_REGION" | docker login --username AWS --password-stdin "$CIB_CACHE_REGISTRY"',
  '|| echo "warning: could not log in to the cache registry $CIB_CACHE_REGISTRY; the build goes on without its cache" >&2; fi',
);

/** `docker login` for the image registry and, if different, the cache registry. */
export const DOCKER_LOGIN = [LOGIN_IMAGE_REGISTRY, LOGIN_CACHE_REGISTRY];

/** Fails the build when the image was pushed and no digest was found for it. */
export const REQUIRE_DIGEST = command(
  'if [ "$CIB_PUSH" = true ] && [ -z "$IMAGE_DIGEST" ]; then',
  'echo "error: could not determine the digest of the pushed image" >&2; false; fi',
);

/** Exports the pushed image's digest, read from the buildx metadata file (none when nothing was pushed). */
export const EXPORT_DIGEST_FROM_METADATA = command(
  'export IMAGE_DIGEST=""; if [ "$CIB_PUSH" = true ]; then',
  'IMAGE_DIGEST="$(sed -n \'s/.*"containerimage.digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p\' "$CIB_METADATA_FILE" | head -n 1)"; fi',
);

/** Reads the pushed image's digest from the buildx metadata file, and requires one. */
export const DIGEST_FROM_METADATA = [EXPORT_DIGEST_FROM_METADATA, REQUIRE_DIGEST];

/** Shows the buildx version and makes the metadata file `docker buildx build` writes. */
export const BUILDX_COMMON = [
  'docker buildx version',
  'CIB_METADATA_FILE="$(mktemp)"',
];

/**
 * The arrays every build command starts from, built in that same command (arrays do not survive
 * from one command to the next): `CIB_TAGS`, one `--tag` per tag in CIB_PUSH_TAGS (values made of
 * ECR tag characters, so splitting on spaces is safe), and `CIB_SECRETS`, the `--secret` arguments
 * when the build mounts its secrets.
 */
export function argumentArrays(secretArgs: string[]): string {
  const secrets = secretArgs.length > 0
    ? `if [ "$CIB_MOUNT_SECRETS" = true ]; then CIB_SECRETS=(${secretArgs.join(' ')}); fi;`
    : '';
  return command(
    'CIB_TAGS=(); for t in $CIB_PUSH_TAGS; do CIB_TAGS+=(--tag "$CIB_IMAGE_REPOSITORY_URI:$t"); done;',
    `CIB_SECRETS=();${secrets ? ' ' + secrets : ''}`,
  );
}

/** `--push` in the array CIB_OUTPUT when the build pushes (a pull request built only does not). */
export const PUSH_OUTPUT_ARRAY = 'CIB_OUTPUT=(); if [ "$CIB_PUSH" = true ]; then CIB_OUTPUT=(--push); fi;';

/**
 * Pushes every tag of CIB_PUSH_TAGS with `tool push` (docker or buildah), when the build pushes; fails if any push failed.
 * The pushes' output also goes to the file CIB_PUSH_LOG, which `explainFailure` (statements) may read after a failure.
 */
export function pushEachTag(tool: string, firstTagExtraArgs = '', explainFailure = ''): string {
  return command(
    'if [ "$CIB_PUSH" = true ]; then set -o pipefail; s=0; CIB_PUSH_LOG="$(mktemp)"; for t in $CIB_PUSH_TAGS; do',
    `if [ "$t" = "$IMAGE_TAG" ]; then ${tool} push ${firstTagExtraArgs ? `${firstTagExtraArgs} ` : ''}"$CIB_IMAGE_REPOSITORY_URI:$t"`,
    '2>&1 | tee -a "$CIB_PUSH_LOG" || s=1;',
    `else ${tool} push "$CIB_IMAGE_REPOSITORY_URI:$t" 2>&1 | tee -a "$CIB_PUSH_LOG" || s=1; fi; done;`,
    `if [ "$s" != 0 ]; then ${explainFailure ? `${explainFailure}; ` : ''}echo "error: pushing the image failed (see above)" >&2; false; fi; fi`,
  );
}

/** Runs a build command with its output also going to the build log, which the step counter reads. */
export function teeBuildLog(build: string): string {
  return `set -o pipefail; ${build} 2>&1 | tee "$CIB_BUILD_LOG"`;
}
