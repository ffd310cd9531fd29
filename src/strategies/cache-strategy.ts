// The strategy subclasses are imported at the end of this file (see there); keep import/order from moving them.
/* eslint-disable import/order */
import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
import { BuildxBuilder } from './buildx-builder';
import { expireUntaggedAndAged, keepDefaultBranchCache } from './lifecycle-rules';
import { StrategyContext, StrategyScript } from './strategy-script';

/** Options for {@link CacheStrategy.registry}. */
export interface RegistryCacheOptions {
  /**
   * The buildx builder that runs the build and exports the cache.
   *
   * @default BuildxBuilder.dockerContainer() with the `moby/buildkit:buildx-stable-1` image
   */
  readonly builder?: BuildxBuilder;
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
}

/**
 * How the build reuses layers from earlier builds. Every CodeBuild build starts on a fresh host,
 * so the cache has to come from a registry.
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
    return new RegistryCache(options.builder ?? BuildxBuilder.dockerContainer());
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
   * `cacheRetention` after their last push, whichever branch pushed them.
   */
  public static buildah(options: BuildahCacheOptions = {}): CacheStrategy {
    return new BuildahCache(options.install ?? true);
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
