import { validateTag } from './options/validation';

/**
 * A tag the build gives the pushed image.
 *
 * The default is `[ImageTag.commit(), ImageTag.of('latest')]`: the commit tag is unique per
 * commit (and immutable in a repository this library creates); `latest` moves with every build.
 */
export class ImageTag {
  /**
   * The resolved source version (`CODEBUILD_RESOLVED_SOURCE_VERSION`, the commit SHA for Git
   * sources), mapped to a valid ECR tag. Falls back to `build-<CODEBUILD_BUILD_NUMBER>` when
   * the build has no resolved source version.
   */
  public static commit(): ImageTag {
    return new ImageTag('commit', undefined);
  }

  /**
   * A fixed tag such as `latest` that every build moves to its new image.
   * In a repository this library creates, such tags are excluded from tag immutability.
   *
   * @param tag a valid ECR tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
   */
  public static of(tag: string): ImageTag {
    validateTag('ImageTag.of(tag)', tag);
    return new ImageTag('fixed', tag);
  }

  /** Whether each build moves this tag to a new image (true for fixed tags). */
  public readonly moving: boolean;

  /** The fixed tag, or undefined for a tag computed at build time. */
  public readonly value?: string;

  private constructor(kind: 'commit' | 'fixed', value: string | undefined) {
    this.value = value;
    this.moving = kind === 'fixed';
  }
}
