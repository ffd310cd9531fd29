/** Options of {@link PullRequestPolicy.push} and {@link PullRequestPolicy.buildOnly}. */
export interface PullRequestPolicyOptions {
  /**
   * Mount the build secrets (`buildSecrets`) into pull-request builds. A pull request's Dockerfile
   * is the pull request author's code: with this on, a pull request (from a fork too, unless the
   * webhook filters its actors) can send the secrets anywhere. Leave it off unless only trusted
   * people can open pull requests that build.
   *
   * @default false
   */
  readonly mountBuildSecrets?: boolean;
}

/**
 * What a pull-request build may do. Whatever the policy, a pull request never writes the default
 * branch's cache, never moves a fixed tag (such as `latest`) and never pushes the commit tag: it
 * reads the default branch's cache (and its base branch's), and writes only its own.
 *
 * @example
 * // Pull requests (from forks too) are built to test them, never pushed, and get no build secrets.
 * new CachedImageBuild(this, 'Api', {
 *   pullRequests: PullRequestPolicy.buildOnly({ mountBuildSecrets: false }),
 * });
 */
export class PullRequestPolicy {
  /**
   * Build, push the image as `pr-<number>` (mutable: a new commit on the pull request moves it) and
   * write the pull request's own cache scope `pr-<number>`, so that its next build hits the cache.
   */
  public static push(options: PullRequestPolicyOptions = {}): PullRequestPolicy {
    return new PullRequestPolicy('push', options.mountBuildSecrets ?? false);
  }

  /**
   * Build only: the image is not pushed and no cache is written; the build still reads the default
   * branch's cache. `IMAGE_URI` and `IMAGE_TAG` are empty, and `imagedefinitions.json` holds no image.
   */
  public static buildOnly(options: PullRequestPolicyOptions = {}): PullRequestPolicy {
    return new PullRequestPolicy('build-only', options.mountBuildSecrets ?? false);
  }

  /** `push` or `build-only`. */
  public readonly mode: string;

  /** Whether pull-request builds get the build secrets. */
  public readonly mountBuildSecrets: boolean;

  private constructor(mode: string, mountBuildSecrets: boolean) {
    this.mode = mode;
    this.mountBuildSecrets = mountBuildSecrets;
  }
}
