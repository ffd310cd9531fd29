import { validateTag } from './options/validation';

/** Options of {@link ImageTag.of}. */
export interface FixedImageTagOptions {
  /**
   * Also move the tag on a build of a git tag (a release), not only on the default branch.
   *
   * @default false
   */
  readonly onGitTags?: boolean;
}

/**
 * A tag the build gives the pushed image. Each kind of tag is pushed only by the builds it is
 * meant for (docker/metadata-action style); pull requests never push any of these (see
 * `PullRequestPolicy`, which pushes `pr-<number>` instead).
 *
 * The default is `[ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('latest')]`: a build of the
 * default branch pushes the commit tag and moves `latest`; a build of another branch pushes the
 * commit tag; a build of a git tag pushes the git tag.
 *
 * @example
 * // Every branch build pushes its commit; main moves `latest`; a release tag moves `stable` too.
 * new CachedImageBuild(this, 'Api', {
 *   imageTags: [ImageTag.commit(), ImageTag.of('latest'), ImageTag.of('stable', { onGitTags: true })],
 * });
 */
export class ImageTag {
  /**
   * The commit (`CODEBUILD_RESOLVED_SOURCE_VERSION`, the commit SHA for Git sources), pushed by
   * every build of a branch (webhook push, manual start, pipeline) and by a manual start of a bare
   * commit; not by pull requests or git tag builds. Falls back to `build-<CODEBUILD_BUILD_NUMBER>`
   * when the build has no resolved source version. Immutable in a repository this library creates.
   */
  public static commit(): ImageTag {
    return new ImageTag('commit', undefined, false);
  }

  /**
   * The git tag, pushed by a build of a git tag (`refs/tags/<name>`). The name is used as it is
   * when it is a valid ECR tag of at most 80 characters that cannot be mistaken for another tag;
   * otherwise (other characters, longer, a commit-like name, a fixed tag's name, or one starting
   * with `pr-`, `br-`, `tag-` or `build-`) it becomes `tag-<name mapped to tag characters>-h<hash>`.
   * Immutable in a repository this library creates.
   */
  public static gitTag(): ImageTag {
    return new ImageTag('git-tag', undefined, false);
  }

  /**
   * `br-<branch>`, pushed by every build of a branch that is not a pull request, moved by each
   * build of that branch. A branch name that is not made only of tag characters, or is longer than
   * 80 characters, gets a hash suffix, so that `feature/login` and `feature-login` differ. Mutable
   * (`br-*`) in a repository this library creates.
   */
  public static branch(): ImageTag {
    return new ImageTag('branch', undefined, true);
  }

  /**
   * A fixed tag such as `latest`, moved by every build of the default branch (and of a git tag with
   * `onGitTags`), never by a pull request or another branch. In a repository this library creates,
   * such tags are excluded from tag immutability.
   *
   * @param tag a valid ECR tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, not starting with `pr-`, `br-`,
   * `tag-` or `build-` (the namespaces of the other tags) and not a 40-digit hex commit
   */
  public static of(tag: string, options: FixedImageTagOptions = {}): ImageTag {
    validateTag('ImageTag.of(tag)', tag);
    validateFixedTag(tag);
    return new ImageTag('fixed', tag, true, options.onGitTags ?? false);
  }

  /** Whether builds move this tag to a new image (fixed and branch tags). */
  public readonly moving: boolean;

  /** The fixed tag, or undefined for a tag computed at build time. */
  public readonly value?: string;

  /** The kind of tag: `commit`, `git-tag`, `branch` or `fixed`. */
  public readonly kind: string;

  /** Whether a fixed tag also moves on builds of a git tag. */
  public readonly onGitTags: boolean;

  private constructor(kind: string, value: string | undefined, moving: boolean, onGitTags = false) {
    this.kind = kind;
    this.value = value;
    this.moving = moving;
    this.onGitTags = onGitTags;
  }
}

/** Prefixes of the tags computed at build time; a fixed tag may not start with one. */
export const COMPUTED_TAG_PREFIXES = ['pr-', 'br-', 'tag-', 'build-'];

function validateFixedTag(tag: string): void {
  const prefix = COMPUTED_TAG_PREFIXES.find((p) => tag.startsWith(p));
  if (prefix !== undefined) {
    throw new Error(`ImageTag.of(tag): '${tag}' starts with '${prefix}', ` +
      `a prefix reserved for tags computed at build time (${COMPUTED_TAG_PREFIXES.join(', ')})`);
  }
  if (/^[0-9a-fA-F]{40}$/.test(tag)) {
    throw new Error(`ImageTag.of(tag): '${tag}' looks like a commit tag (40 hex digits); use ImageTag.commit()`);
  }
}
