// The strategy subclasses are imported at the end of this file (see there); keep import/order from moving them.
/* eslint-disable import/order */
import { Duration, aws_codebuild as codebuild, aws_ecr as ecr } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { validateRegistryCompression } from '../options/validation';
import { BuildxBuilder } from './buildx-builder';
import { LayerCompression } from './layer-compression';
import { expireUntaggedAndAged, keepDefaultBranchCache } from './lifecycle-rules';
import { StrategyContext, StrategyScript } from './strategy-script';

/** Options for {@link CacheStrategy.registry}. */
export interface RegistryCacheOptions {
  /**
   * The buildx builder that runs the build and exports the cache.
   *
   * @default BuildxBuilder.dockerContainer() with BuildxBuilder.DEFAULT_BUILDKIT_IMAGE (BuildKit v0.33.1, pinned by digest)
   */
  readonly builder?: BuildxBuilder;

  /**
   * How the layers the build creates are compressed, in the image and in the cache (one
   * compression for both). gzip at a lower level or zstd compresses faster than BuildKit's default
   * gzip level: cold builds and dependency changes push sooner. zstd needs the docker-container
   * builder and consumers that pull zstd layers; see docs/strategies.md, "Large images".
   *
   * @default LayerCompression.gzip() (BuildKit's default gzip level, no flag)
   */
  readonly compression?: LayerCompression;
}

/** Options for {@link CacheStrategy.buildah}. */
export interface BuildahCacheOptions {
  /**
   * Install Buildah in the install phase when the build image lacks it
   * (`apt-get` on Ubuntu-based images, `dnf` or `yum` on Amazon Linux).
   *
   * @default true
   */
  readonly install?: boolean;

  /**
   * Build with Buildah 1.27 or 1.28, with a warning, instead of failing.
   *
   * The build checks `buildah --version` before it builds. Buildah before 1.27 has no remote
   * layer cache and always fails the build. Buildah 1.27 and 1.28 have one, but miss it for every
   * step of a stage after an `ARG` declared inside that stage, on every build
   * (containers/buildah#4315, fixed in 1.29): by default that fails the build, with advice.
   * Set this when your Dockerfiles declare no `ARG` inside a stage and you must use such a Buildah.
   *
   * @default false
   */
  readonly allowOlderBuildah?: boolean;
}

/**
 * How the build reuses layers from earlier builds. A CodeBuild build cannot count on the layers
 * of the previous one (its local Docker layer cache is best-effort and kept only on the same
 * host for a short while), so the cache comes from a registry: the cache repository.
 *
 * @example
 * // The default: BuildKit registry cache in a docker-container builder.
 * new CachedImageBuild(this, 'Api', { cache: CacheStrategy.registry() });
 *
 * // A build image whose Docker has no buildx: inline cache with Docker's own builder.
 * new CachedImageBuild(this, 'Legacy', {
 *   cache: CacheStrategy.inline(),
 *   buildImage: codebuild.LinuxBuildImage.STANDARD_5_0,
 * });
 *
 * // Buildah, installed at build time.
 * new CachedImageBuild(this, 'Daemonless', { cache: CacheStrategy.buildah({ install: true }) });
 */
export abstract class CacheStrategy {
  /**
   * BuildKit registry cache in the cache repository (the default and the recommended strategy).
   *
   * Imports the branch's cache tag and the default branch's cache tag, and exports all
   * intermediate layers (`mode=max`) as an OCI image manifest, the only cache form ECR accepts,
   * to the branch's cache tag. A failed cache export does not fail the build.
   * Needs BuildKit 0.12 or later (Docker 25+ with buildx, as on CodeBuild standard:7.0 and later).
   */
  public static registry(options: RegistryCacheOptions = {}): CacheStrategy {
    const builder = options.builder ?? BuildxBuilder.dockerContainer();
    const compression = options.compression ?? LayerCompression.gzip();
    validateRegistryCompression(builder.driver, compression._isDefault);
    return new RegistryCache(builder, compression);
  }

  /**
   * Inline cache with Docker's default builder: for build images with an older Docker
   * (CodeBuild standard:5.0 and Amazon Linux 2 standard:4.0 ship Docker 20.10 without buildx;
   * standard:6.0 has Docker 20.10 with buildx 0.11), or where no BuildKit image can be pulled.
   *
   * Each build imports every cache tag of its branch and of the default branch, and pushes its
   * image to the cache tag `<branch>-e<N>`, N being the number of steps it executed. A build's
   * inline cache only holds the steps it executed, so keying the tag by that number keeps the
   * longer chains of earlier builds instead of overwriting them: every unchanged step hits.
   * Inline cache is min-mode: in a multi-stage Dockerfile only the final stage is cached.
   */
  public static inline(): CacheStrategy {
    return new InlineCache();
  }

  /**
   * Buildah with `--layers --cache-from/--cache-to` the cache repository: one cache tag per
   * step, named by the step's content hash, shared by all branches. Cache tags expire
   * `cacheRetention` after their last push, whichever branch pushed them. Needs Buildah 1.29 or
   * later (checked at build time; see `allowOlderBuildah`).
   */
  public static buildah(options: BuildahCacheOptions = {}): CacheStrategy {
    return new BuildahCache(options.install ?? true, options.allowOlderBuildah ?? false);
  }

  /** No layer cache: every build starts cold. Useful as a baseline, or for reproducible release builds. */
  public static none(): CacheStrategy {
    return new NoCache();
  }

  /** Short name of the strategy, e.g. `registry`. */
  public abstract readonly name: string;

  /** Whether the strategy reads and writes a cache repository. */
  public abstract readonly usesCacheRepository: boolean;

  /** @internal */
  public abstract _render(context: StrategyContext): StrategyScript;

  /**
   * Lifecycle rules of a cache repository created for this strategy: untagged manifests expire
   * after a day, the default branch's cache never, other cache tags `retention` after their push.
   * @internal
   */
  public _cacheLifecycleRules(defaultCacheTag: string, retention: Duration): ecr.LifecycleRule[] {
    return [
      keepDefaultBranchCache(defaultCacheTag, 1),
      ...expireUntaggedAndAged(retention, 'other branches\' caches'),
    ];
  }

  /**
   * ECR actions on the cache repository beyond push and pull.
   * @internal
   */
  public _extraCacheActions(): string[] {
    return [];
  }

  /**
   * Grants the project what the strategy needs beyond its repositories (the builder image's source).
   * @internal
   */
  public _grant(_scope: Construct, _project: codebuild.IProject): void {
    // Nothing by default.
  }

  /**
   * The tool whose registry login the build's pulls use: `docker` (its config file, which buildx
   * hands to BuildKit), or `buildah` (the auth file REGISTRY_AUTH_FILE, written in pre_build).
   * @internal
   */
  public _loginTool(): string {
    return 'docker';
  }

  /**
   * Whether the commands call the ECR API with the cache repository's name (CIB_CACHE_REPOSITORY_NAME).
   * @internal
   */
  public _needsCacheRepositoryName(): boolean {
    return false;
  }

  /**
   * Whether the commands run `docker buildx` (the build image needs the buildx plugin).
   * @internal
   */
  public _needsBuildx(): boolean {
    return false;
  }
}

// The strategies extend CacheStrategy, so they are imported after its definition: whichever module
// loads first, the class exists before a subclass is declared (the factories above run later).
import { BuildahCache } from './buildah';
import { InlineCache } from './inline';
import { NoCache } from './none';
import { RegistryCache } from './registry';
