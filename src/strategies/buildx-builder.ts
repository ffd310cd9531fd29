import { Token } from 'aws-cdk-lib';

/** Characters of an image reference: registry host (with port, or [IPv6]), path, tag, digest. */
const IMAGE_REFERENCE_CHARACTERS = /^[A-Za-z0-9._/:@+\[\]-]+$/;

/** Options for a `docker-container` buildx builder. */
export interface DockerContainerBuilderOptions {
  /**
   * The BuildKit image the builder runs.
   *
   * Anonymous pulls from Docker Hub are rate-limited per IP address, and CodeBuild hosts share
   * addresses: in busy accounts, copy the image into one of your ECR repositories (or an ECR
   * pull-through cache) and name that copy here.
   *
   * @default 'moby/buildkit:buildx-stable-1'
   */
  readonly image?: string;

  /**
   * What to do when the builder cannot start (typically: Docker Hub refused to pull the image).
   * `false` fails the build with a message that says so. `true` builds with the engine's own
   * builder instead: on CodeBuild's engine (classic image store) it can import the registry cache
   * but not export it, so the build and the image push go on while the cache is not refreshed
   * until the builder starts again.
   *
   * @default false
   */
  readonly fallbackToEngineBuilder?: boolean;
}

/**
 * The buildx builder that runs the build.
 *
 * CodeBuild's Docker engine uses the classic image store, whose built-in `docker` driver refuses
 * to export a registry cache, so the default is a `docker-container` builder.
 */
export class BuildxBuilder {
  /** The BuildKit image used when none is given. */
  public static readonly DEFAULT_BUILDKIT_IMAGE = 'moby/buildkit:buildx-stable-1';

  /**
   * Create a `docker-container` builder for the build (`docker buildx create --driver docker-container`).
   * Works on CodeBuild's standard images (Docker 23+ with buildx).
   */
  public static dockerContainer(options: DockerContainerBuilderOptions = {}): BuildxBuilder {
    const image = options.image ?? BuildxBuilder.DEFAULT_BUILDKIT_IMAGE;
    // The image reaches buildx inside `--driver-opt "image=..."`, a comma-separated list: a comma
    // or a quote would add options of its own. No image reference has either.
    if (!Token.isUnresolved(image) && !IMAGE_REFERENCE_CHARACTERS.test(image)) {
      throw new Error(
        'BuildxBuilder.dockerContainer(): image must be a non-empty image reference made of [A-Za-z0-9._/:@+-] ' +
          `and the brackets of an IPv6 host; got '${image}'`,
      );
    }
    return new BuildxBuilder('docker-container', image, options.fallbackToEngineBuilder ?? false);
  }

  /**
   * Use the engine's current builder (the `docker` driver) instead of creating one.
   *
   * Registry cache export then needs an engine with the containerd image store
   * (`"features": {"containerd-snapshotter": true}`), which CodeBuild's engine does not have
   * today; custom build images and this project's end-to-end harness do.
   */
  public static currentDriver(): BuildxBuilder {
    return new BuildxBuilder('current', undefined, false);
  }

  /** `docker-container` or `current`. */
  public readonly driver: string;

  /** The BuildKit image for a `docker-container` builder. */
  public readonly image?: string;

  /** Whether a `docker-container` builder that cannot start falls back to the engine's builder. */
  public readonly fallbackToEngineBuilder: boolean;

  private constructor(driver: string, image: string | undefined, fallbackToEngineBuilder: boolean) {
    this.driver = driver;
    this.image = image;
    this.fallbackToEngineBuilder = fallbackToEngineBuilder;
  }
}
