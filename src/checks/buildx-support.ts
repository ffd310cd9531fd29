import { Annotations, Token, aws_codebuild as codebuild } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { CacheStrategy } from '../strategies/cache-strategy';

/** Id of the warning for a strategy that needs buildx on a build image without it; acknowledge it with this id. */
export const BUILDX_MISSING_WARNING = 'cdk-cached-image-build:buildImageWithoutBuildx';

/**
 * CodeBuild images whose Docker has no buildx plugin, from their definitions in
 * github.com/aws/aws-codebuild-docker-images (the "Definition" links of CodeBuild's image list).
 * Docker 18.09 to 20.10, installed from the static binaries, which do not include buildx:
 * - Ubuntu `standard:1.0` to `5.0` (`standard:6.0` has Docker 20.10 with buildx 0.11; 7.0 and later have Docker 2x with buildx);
 * - Amazon Linux 2 x86_64 `amazonlinux2-x86_64-standard:1.0` to `4.0`, and `amazonlinux-x86_64-standard:4.0` (the
 *   later name of the Amazon Linux 2 4.0 image; CDK calls it `AMAZON_LINUX_2023_4`);
 * - Amazon Linux 2 aarch64 `amazonlinux2-aarch64-standard:1.0` and `2.0`, and `amazonlinux-aarch64-standard:2.0` (the
 *   later name of the 2.0 image; CDK calls it `AMAZON_LINUX_2023_STANDARD_2_0`);
 * - the Ubuntu 14.04 images (`docker:17.09.0`, `nodejs:10.14.1`, ...), which CodeBuild retired.
 */
const IMAGES_WITHOUT_BUILDX = [
  ...['1.0', '2.0', '3.0', '4.0', '5.0'].map((v) => `aws/codebuild/standard:${v}`),
  ...['1.0', '2.0', '3.0', '4.0'].map((v) => `aws/codebuild/amazonlinux2-x86_64-standard:${v}`),
  'aws/codebuild/amazonlinux-x86_64-standard:4.0',
  ...['1.0', '2.0'].map((v) => `aws/codebuild/amazonlinux2-aarch64-standard:${v}`),
  'aws/codebuild/amazonlinux-aarch64-standard:2.0',
];

/** Image names of the Ubuntu 14.04 generation (any version). */
const UBUNTU_14_04_IMAGES = /^aws\/codebuild\/(ubuntu-base|docker|android-java-8|golang|java|nodejs|php|python|ruby|dot-net):/;

/**
 * Whether a CodeBuild image id names one of the images without buildx: exactly, or pinned to one of
 * its image versions (`aws/codebuild/standard:5.0-<version>`).
 */
export function imageLacksBuildx(imageId: string): boolean {
  if (Token.isUnresolved(imageId)) return false;
  return UBUNTU_14_04_IMAGES.test(imageId) ||
    IMAGES_WITHOUT_BUILDX.some((image) => imageId === image || imageId.startsWith(`${image}-`));
}

/** Warns (acknowledgeably) when the strategy runs `docker buildx` and the build image has no buildx. */
export function checkBuildxSupport(scope: IConstruct, strategy: CacheStrategy, buildImage: codebuild.IBuildImage): void {
  if (!strategy._needsBuildx() || !imageLacksBuildx(buildImage.imageId)) return;
  Annotations.of(scope).addWarningV2(BUILDX_MISSING_WARNING, [
    `cache strategy '${strategy.name}' runs docker buildx, which the build image ${buildImage.imageId} does not have`,
    '(its Docker comes without the buildx plugin): the build would fail at its first buildx command.',
    'Use a build image with buildx (LinuxBuildImage.STANDARD_7_0 or later, LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0),',
    'or CacheStrategy.inline(), which builds with the engine\'s own builder.',
    `If your image has buildx after all, acknowledge this warning: Annotations.of(build).acknowledgeWarning('${BUILDX_MISSING_WARNING}')`,
  ].join(' '));
}
