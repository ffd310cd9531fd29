import { BuildxBuilder } from './buildx-builder';
import { CacheStrategy } from './cache-strategy';
import { StrategyContext, StrategyScript } from './strategy-script';
import { BUILDX_COMMON, DIGEST_FROM_METADATA, DOCKER_LOGIN, command, teeBuildLog } from '../script/fragments';

/** Name of the builder the docker-container driver creates. */
export const BUILDER_NAME = 'cib-builder';

/**
 * The cache export, to the branch's cache tag: every intermediate layer (`mode=max`), as an OCI
 * image manifest (the only cache form ECR accepts); a failed export does not fail the build.
 */
const CACHE_TO = `CIB_CACHE_TO="${[
  'type=registry',
  'ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG',
  'mode=max',
  'image-manifest=true',
  'oci-mediatypes=true',
  'ignore-error=true',
].join(',')}"`;

/** Imports the branch's and the default branch's cache; exports to the branch's. */
const CACHE_ARGS = command(
  '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG"',
  '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_DEFAULT_CACHE_TAG"',
  '--cache-to "$CIB_CACHE_TO"',
);

/**
 * Starts a docker-container builder from $CIB_BUILDER_IMAGE, in the network $CIB_BUILDER_NETWORK and
 * with the buildkitd configuration file $CIB_BUILDKITD_CONFIG_FILE when the builder has them.
 */
function createBuilder(builder: BuildxBuilder): string {
  return command(
    `docker buildx create --name ${BUILDER_NAME} --driver docker-container --driver-opt "image=$CIB_BUILDER_IMAGE"`,
    ...(builder.network !== undefined ? ['--driver-opt "network=$CIB_BUILDER_NETWORK"'] : []),
    // `--config`, not its newer name `--buildkitd-config`: older buildx releases know only this one.
    ...(builder.buildkitdConfig !== undefined ? ['--config "$CIB_BUILDKITD_CONFIG_FILE"'] : []),
    '--bootstrap',
  );
}

/** Writes the buildkitd configuration (from the project variable) to a private file. */
const WRITE_BUILDKITD_CONFIG = 'CIB_BUILDKITD_CONFIG_FILE="$(mktemp)" && printf \'%s\\n\' "$CIB_BUILDKITD_CONFIG" > "$CIB_BUILDKITD_CONFIG_FILE"';

/**
 * When the builder cannot start, with the fallback: the engine's builder (classic image store)
 * cannot export a registry cache (an inline one it can).
 */
const FALL_BACK_TO_ENGINE_BUILDER = command(
  'echo "warning: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE; building with the engine\'s builder,',
  'which cannot export the cache" >&2; CIB_BUILDER=default; CIB_CACHE_TO="type=inline"',
);

/** When the builder cannot start, without fallback: fail and say what to do. */
const FAIL_WITHOUT_BUILDER = command(
  'echo "error: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE. If Docker Hub refused the pull (rate limit),',
  'copy the image into ECR and name the copy in BuildxBuilder.dockerContainer({ image }), or allow fallbackToEngineBuilder" >&2; false',
);

/** The commands that start a docker-container builder and set CIB_BUILDER. */
function startBuilder(builder: BuildxBuilder): string[] {
  const otherwise = builder.fallbackToEngineBuilder ? FALL_BACK_TO_ENGINE_BUILDER : FAIL_WITHOUT_BUILDER;
  return [
    ...(builder.buildkitdConfig !== undefined ? [WRITE_BUILDKITD_CONFIG] : []),
    `CIB_BUILDER=${BUILDER_NAME}`,
    `if ${createBuilder(builder)}; then echo "BuildKit builder ${BUILDER_NAME} started"; else ${otherwise}; fi`,
  ];
}

/** The project variables of a docker-container builder. */
function builderEnvironment(builder: BuildxBuilder): Record<string, string> {
  return {
    CIB_BUILDER_IMAGE: builder.image!,
    ...(builder.network !== undefined ? { CIB_BUILDER_NETWORK: builder.network } : {}),
    ...(builder.buildkitdConfig !== undefined ? { CIB_BUILDKITD_CONFIG: builder.buildkitdConfig } : {}),
  };
}

/** BuildKit's registry cache in the cache repository, built with `docker buildx build --push`. */
export class RegistryCache extends CacheStrategy {
  public readonly name = 'registry';
  public readonly usesCacheRepository = true;

  constructor(private readonly builder: BuildxBuilder) {
    super();
  }

  public _render(context: StrategyContext): StrategyScript {
    const containerBuilder = this.builder.driver === 'docker-container';
    const builderArg = containerBuilder ? ' --builder "$CIB_BUILDER"' : '';
    const build = command(
      `docker buildx build${builderArg} --progress=plain --push --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE"`,
      context.commonArgs,
      CACHE_ARGS,
      '"$CIB_BUILD_CONTEXT"',
    );
    return {
      install: [],
      preBuild: [
        ...DOCKER_LOGIN,
        ...BUILDX_COMMON,
        CACHE_TO,
        ...(containerBuilder ? startBuilder(this.builder) : []),
      ],
      buildCommands: [teeBuildLog(build)],
      pushCommands: DIGEST_FROM_METADATA,
      logFormat: 'buildkit',
      environment: containerBuilder ? builderEnvironment(this.builder) : {},
    };
  }
}
