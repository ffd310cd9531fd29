import { Token, aws_ecr as ecr, aws_ecr_assets as ecr_assets, aws_ecs as ecs, aws_lambda as lambda } from 'aws-cdk-lib';
import { archOf } from './multi-arch/platforms';
import { validateTag } from './options/validation';

/**
 * Deploy-time references to the built image: which tag or digest to use, and the ECS and Lambda
 * image objects made from the repository with it (their `bind()` grants the pull: the task's
 * execution role for ECS, the `lambda.amazonaws.com` service principal in the repository policy
 * for Lambda).
 */

/** What the consumption helpers need to know about a build. */
export interface ConsumableBuild {
  readonly repository: ecr.IRepository;
  /** The values of the `ImageTag.of()` tags of `imageTags`, in order: known at synth time, pushed by every build of the default branch. */
  readonly fixedTags: string[];
  /**
   * Every tag the build can push, as values and `<prefix>*` patterns (`br-*`, `pr-*`), when all of
   * them are known at synth time; undefined when `imageTags` has `ImageTag.commit()` or `gitTag()`,
   * whose values can be any tag.
   */
  readonly pushedTagPatterns?: string[];
  readonly provenance: boolean;
  /** The platforms of a multi-architecture build (`platforms`), whose images are tagged `<tag>-<arch>`; empty for one platform. */
  readonly multiArchPlatforms: string[];
  /** The platform of a single-platform build. */
  readonly platform: string;
}

const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** Why the kinds of tag other than `ImageTag.of()` cannot be a default: their values are not known at synth time. */
export const NO_FIXED_TAG_REASON = 'ImageTag.commit() and gitTag() name one build\'s image, and branch() is named at build time';

/**
 * The tag or digest to deploy: the one given (a tag this build can push, a digest, or a token),
 * else the first `ImageTag.of()` tag. A build without one has no tag known at synth time: the
 * caller must name one (typically the commit tag, known to the synth of a pipeline).
 */
export function deployTagOrDigest(method: string, build: ConsumableBuild, tagOrDigest: string | undefined): string {
  if (tagOrDigest === undefined) {
    if (build.fixedTags.length === 0) {
      throw new Error(
        `${method}: imageTags has no ImageTag.of() tag, so there is no tag to default to (${NO_FIXED_TAG_REASON}): ` +
          'pass the tag to deploy, such as the commit tag (the commit SHA, e.g. process.env.CODEBUILD_RESOLVED_SOURCE_VERSION ' +
          'in a pipeline\'s synth step), or an image digest (sha256:...)',
      );
    }
    return build.fixedTags[0];
  }
  if (Token.isUnresolved(tagOrDigest) || DIGEST_PATTERN.test(tagOrDigest)) {
    return tagOrDigest;
  }
  validateTag(`${method}(tagOrDigest)`, tagOrDigest);
  const patterns = build.pushedTagPatterns;
  if (patterns && !patterns.some((p) => (p.endsWith('*') ? tagOrDigest.startsWith(p.slice(0, -1)) : tagOrDigest === p))) {
    throw new Error(
      `${method}: '${tagOrDigest}' is not a tag this build pushes (it pushes ${patterns.map((t) => `'${t}'`).join(', ')}); ` +
        'name one of them, or an image digest (sha256:...)',
    );
  }
  return tagOrDigest;
}

/** An ECS container image of the build's repository at `tagOrDigest`; binding it grants the pull to the task's execution role. */
export function ecsContainerImage(build: ConsumableBuild, tagOrDigest: string | undefined): ecs.ContainerImage {
  return ecs.ContainerImage.fromEcrRepository(build.repository, deployTagOrDigest('toEcsContainerImage', build, tagOrDigest));
}

/**
 * Lambda code from the build's repository at `tagOrDigest`; binding it adds the pull for
 * `lambda.amazonaws.com` to the repository policy. Lambda rejects an image index with attestations,
 * so a build with `provenance: true` cannot be deployed to Lambda.
 */
export function lambdaDockerImageCode(build: ConsumableBuild, tagOrDigest: string | undefined,
  platform: ecr_assets.Platform | undefined): lambda.DockerImageCode {
  const ref = deployTagOrDigest('toLambdaDockerImageCode', build, tagOrDigest);
  if (build.provenance) {
    throw new Error(
      'toLambdaDockerImageCode: this build pushes an image index with a provenance attestation (provenance: true), which ' +
        'AWS Lambda rejects; build the Lambda image with provenance: false (the default)',
    );
  }
  return lambda.DockerImageCode.fromEcr(build.repository, { tagOrDigest: platformRef(build, ref, platform) });
}

/**
 * The reference Lambda can run: Lambda runs one architecture and rejects a multi-architecture
 * image index, so a build with `platforms` deploys one platform's image, tagged `<tag>-<arch>`.
 */
function platformRef(build: ConsumableBuild, ref: string, platform: ecr_assets.Platform | undefined): string {
  const platforms = build.multiArchPlatforms.length > 0 ? build.multiArchPlatforms : [build.platform];
  if (platform !== undefined && !platforms.includes(platform.platform)) {
    throw new Error(`toLambdaDockerImageCode(): '${platform.platform}' is not one of this build's platforms (${platforms.join(', ')})`);
  }
  // A digest names one manifest already: that of one platform's image (IMAGE_URI_<ARCH> of the index action).
  if (build.multiArchPlatforms.length === 0 || DIGEST_PATTERN.test(ref)) return ref;
  if (platform === undefined) {
    throw new Error('toLambdaDockerImageCode: this build pushes a multi-architecture image index (platforms), which AWS Lambda ' +
      `does not run; pass the function's platform (one of ${platforms.join(', ')}) to deploy that platform's image`);
  }
  return `${ref}-${archOf(platform.platform)}`;
}
