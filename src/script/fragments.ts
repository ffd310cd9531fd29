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

/** Fails the build when no digest was found for the pushed image. */
export const REQUIRE_DIGEST =
  'if [ -z "$IMAGE_DIGEST" ]; then echo "error: could not determine the digest of the pushed image" >&2; false; fi';

/** Exports the pushed image's digest, read from the buildx metadata file. */
export const EXPORT_DIGEST_FROM_METADATA =
  'export IMAGE_DIGEST="$(sed -n \'s/.*"containerimage.digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p\' "$CIB_METADATA_FILE" | head -n 1)"';

/** Reads the pushed image's digest from the buildx metadata file, and requires one. */
export const DIGEST_FROM_METADATA = [EXPORT_DIGEST_FROM_METADATA, REQUIRE_DIGEST];

/** Shows the buildx version and makes the metadata file `docker buildx build` writes. */
export const BUILDX_COMMON = [
  'docker buildx version',
  'CIB_METADATA_FILE="$(mktemp)"',
];

/** Runs a build command with its output also going to the build log, which the step counter reads. */
export function teeBuildLog(build: string): string {
  return `set -o pipefail; ${build} 2>&1 | tee "$CIB_BUILD_LOG"`;
}
