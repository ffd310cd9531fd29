import { aws_codebuild as codebuild } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { BuildxBuilder } from './buildx-builder';
import { CacheStrategy } from './cache-strategy';
import { LayerCompression } from './layer-compression';
import { StrategyContext, StrategyScript } from './strategy-script';
import { explainingRefusal } from '../script/existing-image';
import { BUILDX_COMMON, DIGEST_FROM_METADATA, DOCKER_LOGIN, command, teeBuildLog } from '../script/fragments';
import { PUSH_OUTPUT_ARRAY_REPRODUCIBLE } from '../script/source-date';

/**
 * The builder the docker-container driver creates: named after the build (`cib-` and the build id's
 * UUID), so that a builder left on the host by an earlier build, or created by the build image,
 * never makes `docker buildx create` fail.
 */
const BUILDER_NAME = command(
  'b="${CODEBUILD_BUILD_ID:-local:$$}"; b="${b##*:}";',
  'CIB_BUILDER="cib-$(printf \'%s\' "$b" | LC_ALL=C tr -c \'a-zA-Z0-9_-\' \'-\' | head -c 40)"',
);

/**
 * The cache export, to the build's own cache scope (none when it writes no cache): every
 * intermediate layer (`mode=max`), as an OCI image manifest (the only cache form ECR accepts);
 * a failed export does not fail the build. With a layer compression other than the default, its
 * keys from CIB_CACHE_COMPRESSION.
 */
function cacheTo(compressed: boolean): string {
  return command(
    'CIB_CACHE_TO=""; if [ -n "$CIB_CACHE_WRITE_SCOPE" ]; then',
    `CIB_CACHE_TO="${[
      'type=registry',
      'ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_WRITE_SCOPE',
      'mode=max',
      'image-manifest=true',
      'oci-mediatypes=true',
      'ignore-error=true',
      ...(compressed ? ['$CIB_CACHE_COMPRESSION'] : []),
    ].join(',')}"; fi`,
  );
}

/**
 * With a layer compression other than the default: the pushed image's output carries its keys
 * (CIB_IMAGE_COMPRESSION, emptied when the build falls back to the engine's builder), after
 * `rewrite-timestamp` when the build has reproducible timestamps.
 */
const COMPRESSED_OUTPUT = command(
  'if [ -n "$CIB_IMAGE_COMPRESSION" ] && [ "${#CIB_OUTPUT[@]}" -gt 0 ]; then',
  'if [ "${CIB_OUTPUT[0]}" = --push ]; then CIB_OUTPUT=(--output "type=image,push=true,$CIB_IMAGE_COMPRESSION");',
  'else CIB_OUTPUT=(--output "${CIB_OUTPUT[1]},$CIB_IMAGE_COMPRESSION"); fi; fi;',
);

/** `--cache-from` each scope the build reads, `--cache-to` its own, in the array CIB_CACHE. */
const CACHE_ARRAY = command(
  'CIB_CACHE=(); for s in $CIB_CACHE_READ_SCOPES; do CIB_CACHE+=(--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$s"); done;',
  'if [ -n "$CIB_CACHE_TO" ]; then CIB_CACHE+=(--cache-to "$CIB_CACHE_TO"); fi;',
);

/**
 * Starts a docker-container builder named $CIB_BUILDER from $CIB_BUILDER_IMAGE, in the network
 * $CIB_BUILDER_NETWORK and with the buildkitd configuration file $CIB_BUILDKITD_CONFIG_FILE when the
 * builder has them; what docker said is in CIB_CREATE_OUTPUT.
 */
function createBuilder(builder: BuildxBuilder): string {
  return command(
    `CIB_CREATE_OUTPUT="$(${builder._imageSource ? `${PULL_BY_TAG} && ` : ''}docker buildx create --name "$CIB_BUILDER"`,
    '--driver docker-container --driver-opt "image=$CIB_BUILDER_IMAGE"',
    ...(builder.network !== undefined ? ['--driver-opt "network=$CIB_BUILDER_NETWORK"'] : []),
    // `--config`, not its newer name `--buildkitd-config`: older buildx releases know only this one.
    ...(builder.buildkitdConfig !== undefined ? ['--config "$CIB_BUILDKITD_CONFIG_FILE"'] : []),
    '--bootstrap 2>&1)"',
  );
}

/**
 * For an image of an ECR pull-through cache: pull it by tag first (the reference without its
 * digest). ECR imports an image from upstream only on a pull by tag: a first pull by digest finds
 * nothing (aws/containers-roadmap#2837). The pull by digest that follows then finds the index the
 * tag pull imported, or fails if the tag has moved away from the pinned digest.
 */
const PULL_BY_TAG = 'docker pull --quiet "${CIB_BUILDER_IMAGE%@*}" 2>&1';

/**
 * Logs in to the registry of the builder image (an ECR pull-through cache) when it is not the image
 * registry, whose login covers it; a failure shows up when the builder starts.
 */
const LOGIN_BUILDER_REGISTRY = command(
  'if [ "$CIB_BUILDER_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then set -o pipefail;',
  'aws ecr get-login-password --region "$CIB_BUILDER_REGION" | docker login --username AWS --password-stdin "$CIB_BUILDER_REGISTRY"',
  '|| echo "warning: could not log in to $CIB_BUILDER_REGISTRY, the registry of the BuildKit image" >&2; fi',
);

/** Writes the buildkitd configuration (from the project variable) to a private file. */
const WRITE_BUILDKITD_CONFIG = 'CIB_BUILDKITD_CONFIG_FILE="$(mktemp)" && printf \'%s\\n\' "$CIB_BUILDKITD_CONFIG" > "$CIB_BUILDKITD_CONFIG_FILE"';

/** What `docker buildx create` said, then the error or warning: the real cause comes first. */
const SHOW_CREATE_OUTPUT = 'printf \'%s\\n\' "$CIB_CREATE_OUTPUT" >&2;';

/**
 * When the builder cannot start, with the fallback: the engine's builder (classic image store)
 * cannot export a registry cache (an inline one it can).
 */
const FALL_BACK_TO_ENGINE_BUILDER = command(
  SHOW_CREATE_OUTPUT,
  'echo "warning: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE (docker buildx create failed, above);',
  'building with the engine\'s builder, which cannot export the cache" >&2; CIB_BUILDER=default;',
  'if [ -n "$CIB_CACHE_TO" ]; then CIB_CACHE_TO="type=inline"; fi',
);

/** The fallback, when the build sets a layer compression: the engine's builder gets no compression keys. */
const FALL_BACK_UNCOMPRESSED = command(FALL_BACK_TO_ENGINE_BUILDER + ';', 'CIB_IMAGE_COMPRESSION=""');

/** When the builder cannot start, without fallback: fail and say what to do. */
const FAIL_WITHOUT_BUILDER = command(
  SHOW_CREATE_OUTPUT,
  'echo "error: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE (docker buildx create failed, above).',
  'If the image pull was refused (Docker Hub rate limit), copy the image into ECR and name the copy in',
  'BuildxBuilder.dockerContainer({ image }), or allow fallbackToEngineBuilder" >&2; false',
);

/** When the builder image of an ECR pull-through cache cannot be pulled or started, without fallback. */
const FAIL_WITHOUT_CACHED_BUILDER = command(
  SHOW_CREATE_OUTPUT,
  'echo "error: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE of the ECR pull-through cache',
  '(pulling it by tag, or docker buildx create, failed, above). Check the Docker Hub credential of the cache rule',
  '(its secret\'s username and accessToken) and that the tag still points at the pinned digest" >&2; false',
);

/** The commands that start a docker-container builder and set CIB_BUILDER. */
function startBuilder(builder: BuildxBuilder, compressed: boolean): string[] {
  const fail = builder._imageSource ? FAIL_WITHOUT_CACHED_BUILDER : FAIL_WITHOUT_BUILDER;
  const otherwise = !builder.fallbackToEngineBuilder ? fail : compressed ? FALL_BACK_UNCOMPRESSED : FALL_BACK_TO_ENGINE_BUILDER;
  return [
    ...(builder._imageSource ? [LOGIN_BUILDER_REGISTRY] : []),
    ...(builder.buildkitdConfig !== undefined ? [WRITE_BUILDKITD_CONFIG] : []),
    BUILDER_NAME,
    `if ${createBuilder(builder)}; then printf '%s\\n' "$CIB_CREATE_OUTPUT"; echo "BuildKit builder $CIB_BUILDER started"; else ${otherwise}; fi`,
  ];
}

/** The project variables of a docker-container builder. */
function builderEnvironment(builder: BuildxBuilder): Record<string, string> {
  return {
    CIB_BUILDER_IMAGE: builder.image!,
    ...(builder._imageSource ? { CIB_BUILDER_REGISTRY: builder._imageSource.registry, CIB_BUILDER_REGION: builder._imageSource.region } : {}),
    ...(builder.network !== undefined ? { CIB_BUILDER_NETWORK: builder.network } : {}),
    ...(builder.buildkitdConfig !== undefined ? { CIB_BUILDKITD_CONFIG: builder.buildkitdConfig } : {}),
  };
}

/** BuildKit's registry cache in the cache repository, built with `docker buildx build --push`. */
export class RegistryCache extends CacheStrategy {
  public readonly name = 'registry';
  public readonly usesCacheRepository = true;

  constructor(private readonly builder: BuildxBuilder, private readonly compression: LayerCompression) {
    super();
  }

  public _grant(scope: Construct, project: codebuild.IProject): void {
    this.builder._grant(scope, project);
  }

  public _render(context: StrategyContext): StrategyScript {
    const containerBuilder = this.builder.driver === 'docker-container';
    const compressed = !this.compression._isDefault;
    const builderArg = containerBuilder ? ' --builder "$CIB_BUILDER"' : '';
    const build = command(
      `docker buildx build${builderArg} --progress=plain "\${CIB_OUTPUT[@]}" --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE"`,
      context.commonArgs,
      '"${CIB_CACHE[@]}"',
      '"$CIB_BUILD_CONTEXT"',
    );
    return {
      install: [],
      preBuild: [
        ...DOCKER_LOGIN,
        ...BUILDX_COMMON,
        cacheTo(compressed),
        ...(containerBuilder ? startBuilder(this.builder, compressed) : []),
      ],
      buildCommands: [command(
        context.argumentArrays, CACHE_ARRAY, PUSH_OUTPUT_ARRAY_REPRODUCIBLE, ...(compressed ? [COMPRESSED_OUTPUT] : []),
        explainingRefusal(teeBuildLog(build), 'CIB_BUILD_LOG'),
      )],
      pushCommands: DIGEST_FROM_METADATA,
      logFormat: 'buildkit',
      environment: {
        ...(containerBuilder ? builderEnvironment(this.builder) : {}),
        ...(compressed ? { CIB_CACHE_COMPRESSION: this.compression._cacheFlags, CIB_IMAGE_COMPRESSION: this.compression._imageFlags } : {}),
      },
    };
  }

  /** `docker buildx build` needs the buildx plugin. */
  public _needsBuildx(): boolean {
    return true;
  }
}
