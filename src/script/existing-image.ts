/**
 * Re-runs of a commit whose image exists: the build looks its immutable tag up in the application
 * repository before building; when the image is there, it builds nothing and moves the tags this
 * build must move to that very manifest (BatchGetImage + PutImage keep the digest), so a retry, a
 * CodePipeline "Release change" of an older commit or a merge of a commit a branch already built
 * succeeds instead of failing at ECR's tag immutability.
 *
 * Pure: command text only. Every command is one self-contained line; they share state through
 * scalar variables only:
 * - CIB_KEY_TAG: the immutable tag this build pushes (the commit tag, or the git tag of a tag
 *   build), empty when it pushes none (a pull request, only mutable tags);
 * - CIB_SKIP_BUILD: `true` when the image for CIB_KEY_TAG exists and is reused;
 * - CIB_EXISTING_DIGEST: its digest.
 *
 * The calls need `ecr:BatchGetImage` and `ecr:PutImage` on the application repository, which a
 * push needs anyway: the lookup adds no permission. A lookup that is denied or fails is logged and
 * the build goes on as it would without it; the push then decides.
 */

import { command } from './fragments';

/** Manifest media types the calls accept: without them ECR may convert an index or refuse it. */
export const ACCEPTED_MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/** The prop that forces a rebuild, as named in messages. */
export const REBUILD_PROP = 'rebuildExistingImages';

/** Options every ECR call on the application repository takes. */
const ON_IMAGE_REPOSITORY = command(
  '--region "$CIB_IMAGE_REGION" --registry-id "${CIB_IMAGE_REGISTRY%%.*}" --repository-name "${CIB_IMAGE_REPOSITORY_URI#*/}"',
);

/** `aws ecr batch-get-image` of the image `id` (`imageTag=...` or `imageDigest=...`), printing the `query` as text. */
function batchGetImage(id: string, query: string): string {
  return command(
    `aws ecr batch-get-image ${ON_IMAGE_REPOSITORY} --image-ids ${id}`,
    `--accepted-media-types ${ACCEPTED_MEDIA_TYPES.join(' ')} --query '${query}' --output text`,
  );
}

/** The immutable tag among the tags this build pushes: the commit tag or the git tag. */
export const FIND_KEY_TAG = command(
  'CIB_KEY_TAG=""; CIB_SKIP_BUILD=false; CIB_EXISTING_DIGEST=""; export IMAGE_REUSED=false;',
  'if [ "$CIB_PUSH" = true ]; then for t in $CIB_PUSH_TAGS; do',
  'if [ "$t" = "${CIB_COMMIT_TAG:-}" ] || [ "$t" = "${CIB_GIT_TAG:-}" ]; then CIB_KEY_TAG="$t"; break; fi; done; fi',
);

/**
 * Looks CIB_KEY_TAG up: an image found means CIB_SKIP_BUILD=true (unless the project rebuilds,
 * CIB_REUSE_IMAGE=false); none found, or a failed lookup, means a build as usual.
 */
export const LOOK_UP_EXISTING_IMAGE = command(
  'if [ -z "$CIB_KEY_TAG" ]; then true;',
  `elif [ "$CIB_REUSE_IMAGE" != true ]; then echo "image lookup: off (${REBUILD_PROP}), building $CIB_KEY_TAG";`,
  `elif CIB_LOOKUP="$(${batchGetImage('imageTag="$CIB_KEY_TAG"', 'images[0].imageId.imageDigest')})"; then`,
  'if [[ "$CIB_LOOKUP" =~ ^sha256:[0-9a-f]{64}$ ]]; then CIB_EXISTING_DIGEST="$CIB_LOOKUP"; CIB_SKIP_BUILD=true; export IMAGE_REUSED=true;',
  'echo "image lookup: the image for $CIB_KEY_TAG exists ($CIB_EXISTING_DIGEST); reusing it, nothing is built";',
  'else echo "image lookup: no image tagged $CIB_KEY_TAG yet; building it"; fi;',
  'else echo "warning: could not look up the image tag $CIB_KEY_TAG (aws ecr batch-get-image failed, above);',
  'building as usual: the push decides" >&2; fi',
);

/**
 * Wraps a command of the build path so that it runs only when the build is not skipped. The
 * command must be complete; a trailing `;` is dropped (`; ;` is not valid bash).
 */
export function unlessSkipped(cmd: string): string {
  return `if [ "$CIB_SKIP_BUILD" != true ]; then ${cmd.replace(/;\s*$/, '')}; fi`;
}

/**
 * The reuse itself: the existing manifest, byte for byte, put under every other tag this build
 * pushes (ImageAlreadyExistsException: the tag holds it already); then IMAGE_DIGEST and the counts
 * of a build that ran no step, and the summary line.
 */
export const REUSE_EXISTING_IMAGE = command(
  'if [ "$CIB_SKIP_BUILD" = true ]; then',
  `if ! CIB_MANIFEST="$(${batchGetImage('imageDigest="$CIB_EXISTING_DIGEST"', 'images[0].imageManifest')})" ||`,
  `! CIB_MEDIA_TYPE="$(${batchGetImage('imageDigest="$CIB_EXISTING_DIGEST"', 'images[0].imageManifestMediaType')})" ||`,
  '[ -z "$CIB_MANIFEST" ] || [ "$CIB_MANIFEST" = None ]; then',
  'echo "error: could not read the manifest of the existing image $CIB_EXISTING_DIGEST (aws ecr batch-get-image, above)" >&2; false;',
  'else s=0; for t in $CIB_PUSH_TAGS; do if [ "$t" = "$CIB_KEY_TAG" ]; then continue; fi;',
  `if o="$(aws ecr put-image ${ON_IMAGE_REPOSITORY} --image-tag "$t" --image-manifest "$CIB_MANIFEST"`,
  '--image-manifest-media-type "$CIB_MEDIA_TYPE" --image-digest "$CIB_EXISTING_DIGEST"',
  '--query \'image.imageId.imageDigest\' --output text 2>&1)"; then',
  'echo "moved $t to $CIB_EXISTING_DIGEST";',
  'elif [[ "$o" == *ImageAlreadyExistsException* ]]; then echo "$t already points at $CIB_EXISTING_DIGEST";',
  'else printf \'%s\\n\' "$o" >&2;',
  'echo "error: could not move the tag $t to the existing image $CIB_EXISTING_DIGEST (aws ecr put-image failed, above)" >&2; s=1; fi; done;',
  'if [ "$s" = 0 ]; then export IMAGE_DIGEST="$CIB_EXISTING_DIGEST" CACHED_STEPS=0 EXECUTED_STEPS=0 CACHE_HIT_RATIO=100 BUILD_SECONDS=0;',
  'echo "cache: skipped, image for $CIB_KEY_TAG exists ($CIB_EXISTING_DIGEST)"; else false; fi; fi; fi',
);

/**
 * How a refused push of an existing immutable tag shows in the output: ECR's text (`... because the
 * tag is immutable.`; before 2025 `the repository`), which docker and buildah print; BuildKit's
 * pusher prints only the status of the manifest PUT (`unexpected status from PUT request to
 * <registry>/v2/<repository>/manifests/<tag>: 400 Bad Request`), a status ECR gives a manifest PUT
 * for that refusal.
 */
const IMMUTABLE_REFUSAL = 'cannot be overwritten because the (tag|repository) is immutable|PUT request to [^ ]*/manifests/[^ ]*: 400 Bad Request';

/**
 * After a failed push whose output (in the file named by `logVariable`) shows ECR's immutability
 * refusal: say why, and name the prop. A statement list, for `|| { ...; false; }`.
 */
export function explainImmutableRefusal(logVariable: string): string {
  return command(
    `if grep -Eq '${IMMUTABLE_REFUSAL}' "$${logVariable}"; then`,
    'echo "error: ECR refused to overwrite an immutable tag (above; BuildKit shows it as 400 Bad Request):',
    'an image with this tag was pushed before. A build reuses the existing image of its commit unless',
    `${REBUILD_PROP} is true or the lookup failed (see image lookup above); to publish a new image, build a new commit` +
      ' or delete the existing image" >&2; fi',
  );
}

/** A command that pushes, writing its output to the file in `logVariable`; on failure, explains an immutability refusal. */
export function explainingRefusal(cmd: string, logVariable: string): string {
  return `${cmd} || { ${explainImmutableRefusal(logVariable)}; false; }`;
}
