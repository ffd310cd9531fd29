import { Token } from 'aws-cdk-lib';

/** Characters of an image reference: registry host (with port, or [IPv6]), path, tag, digest. */
const IMAGE_REFERENCE_CHARACTERS = /^[A-Za-z0-9._/:@+\[\]-]+$/;

/** A Docker network name (`host`, `bridge` or a user-defined network). */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

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

  /**
   * Docker network of the builder container (`docker buildx create --driver-opt network=...`).
   *
   * `host` runs BuildKit in the network namespace of the build container, like the Docker CLI and
   * the AWS CLI of the build: it reaches what they reach (ECR, a VPC endpoint, a registry on
   * 127.0.0.1), and it is the only choice on an engine without a bridge network. On CodeBuild both
   * the default bridge network and `host` reach ECR.
   *
   * @default - the engine's default network (the bridge network on CodeBuild)
   */
  readonly network?: string;

  /**
   * buildkitd configuration (TOML) for the builder (`docker buildx create --config`), for instance
   * a registry mirror (`[registry."docker.io"] mirrors = ["..."]`), a registry served over plain
   * HTTP (`[registry."host:port"] http = true`) or a registry with a private CA. The text reaches
   * the build as an environment variable of the project and is written to a file there.
   *
   * @default - none: BuildKit's defaults (HTTPS registries with the image's CA bundle)
   */
  readonly buildkitdConfig?: string;
}

/**
 * The buildx builder that runs the build.
 *
 * CodeBuild's Docker engine uses the classic image store, whose built-in `docker` driver refuses
 * to export a registry cache, so the default is a `docker-container` builder.
 *
 * @example
 * // The BuildKit image from your own ECR repository instead of Docker Hub.
 * const buildkit = ecr.Repository.fromRepositoryName(this, 'BuildKit', 'mirror/moby/buildkit');
 * new CachedImageBuild(this, 'Api', {
 *   cache: CacheStrategy.registry({
 *     builder: BuildxBuilder.dockerContainer({ image: buildkit.repositoryUriForTag('v0.13.2') }),
 *   }),
 * });
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
    // Also inside `--driver-opt "network=..."`: a network name has no comma.
    if (options.network !== undefined && !Token.isUnresolved(options.network) && !NETWORK_NAME.test(options.network)) {
      throw new Error(
        'BuildxBuilder.dockerContainer(): network must be a Docker network name made of [A-Za-z0-9_.-], ' +
          `starting with a letter or digit (e.g. 'host'); got '${options.network}'`,
      );
    }
    // An environment variable of the project carries it: no NUL; empty text would be a mistake.
    const config = options.buildkitdConfig;
    if (config !== undefined && !Token.isUnresolved(config) && (config.trim() === '' || config.includes('\0'))) {
      throw new Error(
        'BuildxBuilder.dockerContainer(): buildkitdConfig must be non-empty TOML text without NUL ' +
          `(leave it out for BuildKit's defaults); got ${JSON.stringify(config)}`,
      );
    }
    return new BuildxBuilder('docker-container', image, options.fallbackToEngineBuilder ?? false, options.network, options.buildkitdConfig);
  }

  /**
   * Use the engine's current builder (the `docker` driver) instead of creating one.
   *
   * Registry cache export then needs an engine with the containerd image store
   * (`"features": {"containerd-snapshotter": true}`), which CodeBuild's engine does not have
   * today; custom build images and this project's end-to-end harness do.
   */
  public static currentDriver(): BuildxBuilder {
    return new BuildxBuilder('current', undefined, false, undefined, undefined);
  }

  /** `docker-container` or `current`. */
  public readonly driver: string;

  /** The BuildKit image for a `docker-container` builder. */
  public readonly image?: string;

  /** Whether a `docker-container` builder that cannot start falls back to the engine's builder. */
  public readonly fallbackToEngineBuilder: boolean;

  /** Docker network of a `docker-container` builder, when not the engine's default. */
  public readonly network?: string;

  /** buildkitd configuration (TOML) of a `docker-container` builder. */
  public readonly buildkitdConfig?: string;

  private constructor(driver: string, image: string | undefined, fallbackToEngineBuilder: boolean,
    network: string | undefined, buildkitdConfig: string | undefined) {
    this.driver = driver;
    this.image = image;
    this.fallbackToEngineBuilder = fallbackToEngineBuilder;
    this.network = network;
    this.buildkitdConfig = buildkitdConfig;
  }
}
