import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
import { CacheStrategy } from './cache-strategy';
import { expireUntaggedAndAged, keepDefaultBranchCache } from './lifecycle-rules';
import { StrategyContext, StrategyScript } from './strategy-script';
import { explainImmutableRefusal } from '../script/existing-image';
import { DOCKER_LOGIN, REQUIRE_DIGEST, command, pushEachTag, teeBuildLog } from '../script/fragments';

/** Every tagged image of the cache repository, one tag a line. */
const LIST_CACHE_TAGS = command(
  'aws ecr list-images --region "$CIB_CACHE_REGION" --registry-id "${CIB_CACHE_REGISTRY%%.*}"',
  '--repository-name "$CIB_CACHE_REPOSITORY_NAME" --filter tagStatus=TAGGED --query \'imageIds[].imageTag\' --output text',
  '| tr -s \'\\t \' \'\\n\\n\'',
);

/** Keeps the lines `<scope>-e<number>` for each scope the build reads (space-separated in CIB_CACHE_READ_SCOPES). */
const SELECT_INLINE_TAGS = command(
  'awk -v scopes="$CIB_CACHE_READ_SCOPES" \'BEGIN { n = split(scopes, s, " ") }',
  '{ for (i = 1; i <= n; i++) { p = s[i] "-e"; if (index($0, p) == 1 && substr($0, length(p) + 1) ~ /^[0-9]+$/) { print; next } } }\'',
);

/** The cache tags of the scopes the build reads, `<scope>-e<number of executed steps>`, space-separated in CIB_INLINE_CACHE_TAGS. */
const FIND_INLINE_CACHE_TAGS = command(
  `CIB_INLINE_CACHE_TAGS="$(set -o pipefail; ${LIST_CACHE_TAGS} | ${SELECT_INLINE_TAGS} | sort -u | tr '\\n' ' ')"`,
  '|| { echo "warning: could not list the cache tags; building without the cache" >&2; CIB_INLINE_CACHE_TAGS=""; }',
);

/** One `--cache-from` a cache tag, in the array CIB_FROM (tags come from ECR filtered to [a-zA-Z0-9._-]: splitting on spaces is safe). */
const CACHE_FROM_ARRAY = 'CIB_FROM=(); for t in $CIB_INLINE_CACHE_TAGS; do CIB_FROM+=(--cache-from "$CIB_CACHE_REPOSITORY_URI:$t"); done;';

/** Exports the digest of the pushed image, from the repository digest of the local image. */
const EXPORT_DIGEST_FROM_REPO_DIGESTS = command(
  'export IMAGE_DIGEST=""; if [ "$CIB_PUSH" = true ]; then',
  'IMAGE_DIGEST="$(docker image inspect --format \'{{range .RepoDigests}}{{println .}}{{end}}\' "$IMAGE_URI"',
  '| awk -v r="$CIB_IMAGE_REPOSITORY_URI@" \'index($0, r) == 1 { print substr($0, length(r) + 1); exit }\')"; fi',
);

/**
 * Pushes the image to the cache tag `<own scope>-e<executed steps>`, when the build writes a cache
 * and executed any step; a failure only costs the cache.
 */
const PUSH_INLINE_CACHE_TAG = command(
  'if [ -z "$CIB_CACHE_WRITE_SCOPE" ]; then echo "inline cache: this build writes no cache";',
  'elif [ "$EXECUTED_STEPS" -gt 0 ]; then CIB_INLINE_TAG="$CIB_CACHE_WRITE_SCOPE-e$EXECUTED_STEPS";',
  'echo "inline cache: $EXECUTED_STEPS steps executed, pushing cache tag $CIB_INLINE_TAG";',
  'docker tag "$IMAGE_URI" "$CIB_CACHE_REPOSITORY_URI:$CIB_INLINE_TAG" && docker push "$CIB_CACHE_REPOSITORY_URI:$CIB_INLINE_TAG"',
  '|| echo "warning: pushing the cache tag failed; the image push is not affected" >&2;',
  'else echo "inline cache: every step was cached, no cache tag to push"; fi',
);

/** Inline cache with Docker's default builder: `docker build` with `BUILDKIT_INLINE_CACHE`, one cache tag per executed-step count. */
export class InlineCache extends CacheStrategy {
  public readonly name = 'inline';
  public readonly usesCacheRepository = true;

  public _render(context: StrategyContext): StrategyScript {
    const build = command(
      `DOCKER_BUILDKIT=1 docker build --progress=plain ${context.commonArgs}`,
      '--build-arg BUILDKIT_INLINE_CACHE=1 "${CIB_FROM[@]}" "$CIB_BUILD_CONTEXT"',
    );
    return {
      install: [],
      preBuild: [
        ...DOCKER_LOGIN,
        FIND_INLINE_CACHE_TAGS,
        'echo "inline cache: importing [$CIB_INLINE_CACHE_TAGS]"',
      ],
      buildCommands: [command(context.argumentArrays, CACHE_FROM_ARRAY, teeBuildLog(build))],
      pushCommands: [
        pushEachTag('docker', '', explainImmutableRefusal('CIB_PUSH_LOG')),
        EXPORT_DIGEST_FROM_REPO_DIGESTS,
        REQUIRE_DIGEST,
        PUSH_INLINE_CACHE_TAG,
      ],
      logFormat: 'buildkit',
      environment: {},
    };
  }

  /** The default branch's cache is every `<tag>-e<N>` tag of it: protect them all. */
  public _cacheLifecycleRules(defaultCacheTag: string, retention: Duration): ecr.LifecycleRule[] {
    return [
      // One tag per number of executed steps: bounded by the Dockerfile's length.
      keepDefaultBranchCache(`${defaultCacheTag}-e*`, 1000),
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
