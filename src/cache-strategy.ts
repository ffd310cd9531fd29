import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
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

/** `aws ecr get-login-password | docker login` for the image registry and, if different, the cache registry. */
const DOCKER_LOGIN = [
  'set -o pipefail; aws ecr get-login-password --region "$CIB_IMAGE_REGION" | docker login --username AWS --password-stdin "$CIB_IMAGE_REGISTRY"',
  // The cache is optional: a cache registry that cannot be logged in to only costs the cache.
  'if [ -n "${CIB_CACHE_REGISTRY:-}" ] && [ "$CIB_CACHE_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then set -o pipefail; ' +
    'aws ecr get-login-password --region "$CIB_CACHE_REGION" | docker login --username AWS --password-stdin "$CIB_CACHE_REGISTRY" ' +
    '|| echo "warning: could not log in to the cache registry $CIB_CACHE_REGISTRY; the build goes on without its cache" >&2; fi',
];

/** Fails the build when no digest was found for the pushed image. */
const REQUIRE_DIGEST =
  'if [ -z "$IMAGE_DIGEST" ]; then echo "error: could not determine the digest of the pushed image" >&2; false; fi';

/** Reads the pushed image's digest from the buildx metadata file. */
const DIGEST_FROM_METADATA = [
  'export IMAGE_DIGEST="$(sed -n \'s/.*"containerimage.digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p\' "$CIB_METADATA_FILE" | head -n 1)"',
  REQUIRE_DIGEST,
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

  /**
   * Inline cache with Docker's default builder: for build images with an older Docker
   * (CodeBuild standard:5.0 and 6.0 ship Docker 20.10 without buildx), or where no BuildKit
   * image can be pulled.
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
      {
        rulePriority: 1,
        description: `Never expire the default branch cache (${defaultCacheTag})`,
        tagStatus: ecr.TagStatus.TAGGED,
        tagPatternList: [defaultCacheTag],
        maxImageCount: 1,
      },
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
}

function expireUntaggedAndAged(retention: Duration, what: string): ecr.LifecycleRule[] {
  return [
    {
      rulePriority: 2,
      description: 'Expire replaced cache manifests (untagged) after 1 day',
      tagStatus: ecr.TagStatus.UNTAGGED,
      maxImageAge: Duration.days(1),
    },
    {
      rulePriority: 3,
      description: `Expire ${what} ${retention.toDays()} days after their last push`,
      tagStatus: ecr.TagStatus.ANY,
      maxImageAge: retention,
    },
  ];
}

class RegistryCache extends CacheStrategy {
  public readonly name = 'registry';
  public readonly usesCacheRepository = true;

  constructor(private readonly builder: BuildxBuilder) {
    super();
  }

  public _render(context: StrategyContext): StrategyScript {
    const environment: Record<string, string> = {};
    const preBuild = [
      ...DOCKER_LOGIN,
      ...BUILDX_COMMON,
      'CIB_CACHE_TO="type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG,mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true"',
    ];
    let builderArg = '';
    if (this.builder.driver === 'docker-container') {
      environment.CIB_BUILDER_IMAGE = this.builder.image!;
      let options = '';
      if (this.builder.network !== undefined) {
        environment.CIB_BUILDER_NETWORK = this.builder.network;
        options += ' --driver-opt "network=$CIB_BUILDER_NETWORK"';
      }
      if (this.builder.buildkitdConfig !== undefined) {
        // `--config`, not its newer name `--buildkitd-config`: older buildx releases know only this one.
        environment.CIB_BUILDKITD_CONFIG = this.builder.buildkitdConfig;
        preBuild.push('CIB_BUILDKITD_CONFIG_FILE="$(mktemp)" && printf \'%s\\n\' "$CIB_BUILDKITD_CONFIG" > "$CIB_BUILDKITD_CONFIG_FILE"');
        options += ' --config "$CIB_BUILDKITD_CONFIG_FILE"';
      }
      const create = `docker buildx create --name ${BUILDER_NAME} --driver docker-container --driver-opt "image=$CIB_BUILDER_IMAGE"${options} --bootstrap`;
      const otherwise = this.builder.fallbackToEngineBuilder
        // The engine's builder (classic image store) cannot export a registry cache (an inline one it can).
        ? 'echo "warning: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE; building with the engine\'s builder, ' +
          'which cannot export the cache" >&2; CIB_BUILDER=default; CIB_CACHE_TO="type=inline"'
        : 'echo "error: could not start a BuildKit builder from the image $CIB_BUILDER_IMAGE. If Docker Hub refused the pull (rate limit), ' +
          'copy the image into ECR and name the copy in BuildxBuilder.dockerContainer({ image }), or allow fallbackToEngineBuilder" >&2; false';
      preBuild.push(`CIB_BUILDER=${BUILDER_NAME}`, `if ${create}; then echo "BuildKit builder ${BUILDER_NAME} started"; else ${otherwise}; fi`);
      builderArg = ' --builder "$CIB_BUILDER"';
    }
    const cacheArgs = [
      '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_CACHE_TAG"',
      '--cache-from "type=registry,ref=$CIB_CACHE_REPOSITORY_URI:$CIB_DEFAULT_CACHE_TAG"',
      '--cache-to "$CIB_CACHE_TO"',
    ].join(' ');
    return {
      install: [],
      preBuild,
      buildCommands: [
        `set -o pipefail; docker buildx build${builderArg} --progress=plain --push --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE" ` +
          `${context.commonArgs} ${cacheArgs} "$CIB_BUILD_CONTEXT" 2>&1 | tee "$CIB_BUILD_LOG"`,
      ],
      pushCommands: DIGEST_FROM_METADATA,
      logFormat: 'buildkit',
      environment,
    };
  }
}

class InlineCache extends CacheStrategy {
  public readonly name = 'inline';
  public readonly usesCacheRepository = true;

  public _render(context: StrategyContext): StrategyScript {
    // The branch's and the default branch's cache tags: <tag>-e<number of executed steps>.
    const listTags =
      'CIB_INLINE_CACHE_TAGS="$(set -o pipefail; aws ecr list-images --region "$CIB_CACHE_REGION" --registry-id "${CIB_CACHE_REGISTRY%%.*}" ' +
      '--repository-name "$CIB_CACHE_REPOSITORY_NAME" --filter tagStatus=TAGGED --query \'imageIds[].imageTag\' --output text ' +
      '| tr -s \'\\t \' \'\\n\\n\' | awk -v b="$CIB_CACHE_TAG-e" -v d="$CIB_DEFAULT_CACHE_TAG-e" ' +
      '\'(index($0, b) == 1 && substr($0, length(b) + 1) ~ /^[0-9]+$/) || (index($0, d) == 1 && substr($0, length(d) + 1) ~ /^[0-9]+$/)\' | sort -u | tr \'\\n\' \' \')" ' +
      '|| { echo "warning: could not list the cache tags; building without the cache" >&2; CIB_INLINE_CACHE_TAGS=""; }';
    return {
      install: [],
      preBuild: [
        ...DOCKER_LOGIN,
        listTags,
        'echo "inline cache: importing [$CIB_INLINE_CACHE_TAGS]"',
      ],
      buildCommands: [
        // Tags come from ECR filtered to [a-zA-Z0-9._-], so splitting the list on spaces is safe.
        'CIB_FROM=(); for t in $CIB_INLINE_CACHE_TAGS; do CIB_FROM+=(--cache-from "$CIB_CACHE_REPOSITORY_URI:$t"); done; set -o pipefail; ' +
          `DOCKER_BUILDKIT=1 docker build --progress=plain ${context.commonArgs} --build-arg BUILDKIT_INLINE_CACHE=1 "\${CIB_FROM[@]}" "$CIB_BUILD_CONTEXT" 2>&1 | tee "$CIB_BUILD_LOG"`,
      ],
      pushCommands: [
        ...context.imageRefs.map((ref) => `docker push ${ref}`),
        'export IMAGE_DIGEST="$(docker image inspect --format \'{{range .RepoDigests}}{{println .}}{{end}}\' "$IMAGE_URI" ' +
          '| awk -v r="$CIB_IMAGE_REPOSITORY_URI@" \'index($0, r) == 1 { print substr($0, length(r) + 1); exit }\')"',
        REQUIRE_DIGEST,
        'if [ "$EXECUTED_STEPS" -gt 0 ]; then CIB_INLINE_TAG="$CIB_CACHE_TAG-e$EXECUTED_STEPS"; echo "inline cache: $EXECUTED_STEPS steps executed, pushing cache tag $CIB_INLINE_TAG"; ' +
          'docker tag "$IMAGE_URI" "$CIB_CACHE_REPOSITORY_URI:$CIB_INLINE_TAG" && docker push "$CIB_CACHE_REPOSITORY_URI:$CIB_INLINE_TAG" ' +
          '|| echo "warning: pushing the cache tag failed; the image push is not affected" >&2; else echo "inline cache: every step was cached, no cache tag to push"; fi',
      ],
      logFormat: 'buildkit',
      environment: {},
    };
  }

  /** The default branch's cache is every `<tag>-e<N>` tag of it: protect them all. */
  public _cacheLifecycleRules(defaultCacheTag: string, retention: Duration): ecr.LifecycleRule[] {
    return [
      {
        rulePriority: 1,
        description: `Never expire the default branch cache (${defaultCacheTag}-e*)`,
        tagStatus: ecr.TagStatus.TAGGED,
        tagPatternList: [`${defaultCacheTag}-e*`],
        // One tag per number of executed steps: bounded by the Dockerfile's length.
        maxImageCount: 1000,
      },
      ...expireUntaggedAndAged(retention, 'other branches\' caches'),
    ];
  }

  public _extraCacheActions(): string[] {
    return ['ecr:ListImages'];
  }

  public _needsCacheRepositoryName(): boolean {
    return true;
  }
}

class BuildahCache extends CacheStrategy {
  public readonly name = 'buildah';
  public readonly usesCacheRepository = true;

  constructor(private readonly install: boolean) {
    super();
  }

  public _render(context: StrategyContext): StrategyScript {
    const install = this.install
      ? [
        'if command -v buildah >/dev/null 2>&1; then echo "buildah is installed"; ' +
          'elif command -v apt-get >/dev/null 2>&1; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah; ' +
          'elif command -v dnf >/dev/null 2>&1; then dnf install -y -q buildah; ' +
          'elif command -v yum >/dev/null 2>&1; then yum install -y -q buildah; ' +
          'else echo "error: buildah is missing and there is no apt-get, dnf or yum to install it" >&2; false; fi',
        'buildah --version',
      ]
      : [];
    const cacheFrom = '--cache-from "$CIB_CACHE_REPOSITORY_URI"';
    const [first, ...rest] = context.imageRefs;
    return {
      install,
      preBuild: [
        // What `buildah login` stores, written directly: no registry ping, token never on a command line.
        'export REGISTRY_AUTH_FILE="$(mktemp)"',
        // `&&` chains, not `set -e`: set -e is ignored inside a command that is itself part of a `||` list.
        '( set -o pipefail; t="$(aws ecr get-login-password --region "$CIB_IMAGE_REGION")" && [ -n "$t" ] && ' +
          'entries="\\"$CIB_IMAGE_REGISTRY\\":{\\"auth\\":\\"$(printf \'AWS:%s\' "$t" | base64 -w0)\\"}" && ' +
          'if [ "$CIB_CACHE_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then { t="$(aws ecr get-login-password --region "$CIB_CACHE_REGION")" && [ -n "$t" ] && ' +
          'entries="$entries,\\"$CIB_CACHE_REGISTRY\\":{\\"auth\\":\\"$(printf \'AWS:%s\' "$t" | base64 -w0)\\"}"; } ' +
          '|| echo "warning: no ECR token for the cache registry $CIB_CACHE_REGISTRY; the build goes on without its cache" >&2; fi && ' +
          'printf \'{"auths":{%s}}\\n\' "$entries" > "$REGISTRY_AUTH_FILE" )',
        'CIB_DIGEST_FILE="$(mktemp)"',
      ],
      buildCommands: [
        // A refused cache export fails `buildah build`: build again without it (local layers make it quick).
        `set -o pipefail; { buildah build --layers ${cacheFrom} --cache-to "$CIB_CACHE_REPOSITORY_URI" ${context.commonArgs} "$CIB_BUILD_CONTEXT" ` +
          `|| { echo "warning: the build with cache export failed; building again without exporting the cache" >&2; buildah build --layers ${cacheFrom} ${context.commonArgs} "$CIB_BUILD_CONTEXT"; }; } ` +
          '2>&1 | tee "$CIB_BUILD_LOG"',
      ],
      pushCommands: [
        `buildah push --digestfile "$CIB_DIGEST_FILE" ${first}`,
        ...rest.map((ref) => `buildah push ${ref}`),
        'export IMAGE_DIGEST="$(cat "$CIB_DIGEST_FILE")"',
        REQUIRE_DIGEST,
      ],
      logFormat: 'buildah',
      environment: {},
    };
  }

  /** Cache tags are step hashes shared by all branches: expire them all by age. */
  public _cacheLifecycleRules(_defaultCacheTag: string, retention: Duration): ecr.LifecycleRule[] {
    return expireUntaggedAndAged(retention, 'cache tags');
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
        'set -o pipefail; docker buildx build --progress=plain --push --no-cache --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE" ' +
          `${context.commonArgs} "$CIB_BUILD_CONTEXT" 2>&1 | tee "$CIB_BUILD_LOG"`,
      ],
      pushCommands: DIGEST_FROM_METADATA,
      logFormat: 'buildkit',
      environment: {},
    };
  }
}
