import { Token, aws_codebuild as codebuild, aws_ecr_assets as ecr_assets } from 'aws-cdk-lib';
import { CachedImageBuildProps } from '../cached-image-build-props';
import { ImageTag } from '../image-tag';
import { validateMultiArchPlacement } from './placement-rules';
import { SUPPORTED_PLATFORMS, validateMutableTagPatterns } from '../options/validation';

/**
 * The platforms of a multi-architecture build (`platforms`): validated, each with its
 * architecture name (the suffix of its cache scopes and image tags) and its CodeBuild host.
 */

/** One architecture of a multi-architecture build. */
export interface PlatformTarget {
  /** `linux/amd64` or `linux/arm64`. */
  readonly platform: string;
  /** `amd64` or `arm64`: the suffix of this architecture's cache scopes and image tags. */
  readonly arch: string;
  /** The CodeBuild image of this architecture's host. */
  readonly buildImage: codebuild.IBuildImage;
  /** The CodeBuild environment type (`LINUX_CONTAINER` or `ARM_CONTAINER`). */
  readonly environmentType: string;
}

/** Longest tag a multi-architecture build may push to the index: `-amd64` / `-arm64` must still fit in ECR's 128 characters. */
export const MULTI_ARCH_TAG_MAX_LENGTH = 128 - '-amd64'.length;

/** The architecture suffix of a platform (`linux/arm64` -> `arm64`). */
export function archOf(platform: string): string {
  return platform.slice(platform.indexOf('/') + 1);
}

function target(platform: string): PlatformTarget {
  const arm = platform === 'linux/arm64';
  return {
    platform,
    arch: archOf(platform),
    buildImage: arm ? codebuild.LinuxArmBuildImage.AMAZON_LINUX_2_STANDARD_3_0 : codebuild.LinuxBuildImage.STANDARD_7_0,
    environmentType: arm ? 'ARM_CONTAINER' : 'LINUX_CONTAINER',
  };
}

/**
 * The platforms of `platforms`, or undefined for a single-platform build. Checked before the
 * other props, so that a rule of the single-platform build (such as `buildImage` against
 * `platform`) never reports a multi-architecture mistake in its own words.
 */
export function resolvePlatforms(props: CachedImageBuildProps): PlatformTarget[] | undefined {
  if (props.platforms === undefined) return undefined;
  if (props.platform !== undefined) {
    throw new Error('platform and platforms are exclusive: give platforms for a multi-architecture image, platform for one architecture');
  }
  const names = props.platforms.map((p: ecr_assets.Platform) => p.platform);
  if (names.some((n) => Token.isUnresolved(n))) {
    throw new Error('platforms must be literal platforms (each picks a CodeBuild host at synth time), not tokens');
  }
  for (const n of names) {
    if (!SUPPORTED_PLATFORMS.includes(n)) {
      throw new Error(`platforms: each platform must be one of ${SUPPORTED_PLATFORMS.join(', ')}; got '${n}'`);
    }
  }
  if (new Set(names).size !== names.length) {
    throw new Error(`platforms must not name a platform twice; got ${names.join(', ')}`);
  }
  if (names.length < 2) {
    throw new Error('platforms needs at least two platforms (one native build each, then the image index); for one, use platform; ' +
      `got ${names.join(', ') || 'none'}`);
  }
  if (props.buildImage !== undefined) {
    throw new Error('buildImage cannot be combined with platforms: each architecture builds on its own CodeBuild image ' +
      '(standard:7.0 for linux/amd64, Amazon Linux 2 aarch64 standard:3.0 for linux/arm64)');
  }
  validateMultiArchPlacement(props);
  return names.map(target);
}

/**
 * Tag rules of a multi-architecture build: every tag of the index is also pushed, with `-<arch>`
 * appended, on that architecture's image, so a fixed tag must leave room for the suffix and must
 * not look like another fixed tag's per-architecture tag.
 */
export function validateMultiArchTags(imageTags: ImageTag[], targets: PlatformTarget[]): void {
  const fixed = imageTags.filter((t) => t.kind === 'fixed').map((t) => t.value!).filter((t) => !Token.isUnresolved(t));
  for (const tag of fixed) {
    if (tag.length > MULTI_ARCH_TAG_MAX_LENGTH) {
      throw new Error(`imageTags: with platforms, a fixed tag may have at most ${MULTI_ARCH_TAG_MAX_LENGTH} characters ` +
        `(each architecture's image gets the tag with -<arch> appended); got '${tag}' (${tag.length})`);
    }
    const arch = targets.find((t) => tag.endsWith(`-${t.arch}`));
    if (arch) {
      throw new Error(`imageTags: with platforms, a fixed tag must not end in -${arch.arch}, the suffix of the ${arch.platform} image's tags; ` +
        `got '${tag}'`);
    }
  }
}

/**
 * The mutable tags of an application repository the construct creates for a multi-architecture
 * build: the single-platform build's, plus each fixed tag's per-architecture tag (`latest-arm64`).
 */
export function multiArchMutableTagPatterns(patterns: string[], fixedTags: string[], targets: PlatformTarget[],
  createsRepository: boolean): string[] {
  const out = [...patterns, ...fixedTags.flatMap((tag) => targets.map((t) => `${tag}-${t.arch}`))];
  validateMutableTagPatterns(out, createsRepository);
  return out;
}
