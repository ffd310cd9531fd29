import { BuildxBuilder } from './buildx-builder';
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

const DOCKER_LOGIN = [
  'set -o pipefail; aws ecr get-login-password --region "$CIB_IMAGE_REGION" | docker login --username AWS --password-stdin "$CIB_IMAGE_REGISTRY"',
  'if [ -n "${CIB_CACHE_REGISTRY:-}" ] && [ "$CIB_CACHE_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then set -o pipefail; aws ecr get-login-password --region "$CIB_CACHE_REGION" | docker login --username AWS --password-stdin "$CIB_CACHE_REGISTRY"; fi',
];

/** Reads the pushed image's digest from the buildx metadata file. */
const DIGEST_FROM_METADATA = [
  'export IMAGE_DIGEST="$(sed -n \'s/.*"containerimage.digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p\' "$CIB_METADATA_FILE" | head -n 1)"',
  'if [ -z "$IMAGE_DIGEST" ]; then echo "error: the build did not report the pushed image digest (see $CIB_METADATA_FILE)" >&2; false; fi',
];

const BUILDX_COMMON = [
  'docker buildx version',
  'CIB_METADATA_FILE="$(mktemp)"',
];

/** Name of the builder the docker-container driver creates. */
const BUILDER_NAME = 'cib-builder';

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
}

class RegistryCache extends CacheStrategy {
  public readonly name = 'registry';
  public readonly usesCacheRepository = true;

  constructor(private readonly builder: BuildxBuilder) {
    super();
  }

  public _render(context: StrategyContext): StrategyScript {
    const environment: Record<string, string> = {};
    const preBuild = [...DOCKER_LOGIN, ...BUILDX_COMMON];
    let builderArg = '';
    if (this.builder.driver === 'docker-container') {
      environment.CIB_BUILDER_IMAGE = this.builder.image!;
      preBuild.push(
        `docker buildx create --name ${BUILDER_NAME} --driver docker-container --driver-opt "image=$CIB_BUILDER_IMAGE" --bootstrap`,
      );
      builderArg = ` --builder ${BUILDER_NAME}`;
    }
    const cacheArgs = [
      '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG"',
      '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_DEFAULT_CACHE_TAG"',
      '--cache-to "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"',
    ].join(' ');
    return {
      install: [],
      preBuild,
      buildCommands: [
        `docker buildx build${builderArg} --progress=plain --push --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE" ${context.commonArgs} ${cacheArgs} "$CIB_BUILD_CONTEXT"`,
        ...DIGEST_FROM_METADATA,
      ],
      environment,
    };
  }
}

class NoCache extends CacheStrategy {
  public readonly name = 'none';
  public readonly usesCacheRepository = false;

  public _render(context: StrategyContext): StrategyScript {
    return {
      install: [],
      preBuild: [...DOCKER_LOGIN, ...BUILDX_COMMON],
      buildCommands: [
        `docker buildx build --progress=plain --push --no-cache --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE" ${context.commonArgs} "$CIB_BUILD_CONTEXT"`,
        ...DIGEST_FROM_METADATA,
      ],
      environment: {},
    };
  }
}
