import { Duration, aws_ecr as ecr } from 'aws-cdk-lib';
import { CHECK_BUILDAH_VERSION } from './buildah-version';
import { CacheStrategy } from './cache-strategy';
import { expireUntaggedAndAged } from './lifecycle-rules';
import { StrategyContext, StrategyScript } from './strategy-script';
import { explainImmutableRefusal } from '../script/existing-image';
import { REQUIRE_DIGEST, command, pushEachTag } from '../script/fragments';

/**
 * Installs Buildah with the package manager at hand, unless it is there already. What that gives is
 * checked before the build (CHECK_BUILDAH_VERSION): Ubuntu 22.04's apt (CodeBuild standard:6.0/7.0)
 * gives 1.23, too old, Ubuntu 24.04's 1.33. Amazon Linux 2023's own repository has no buildah
 * (amazonlinux/amazon-linux-2023#437): dnf then tries SPAL, Amazon's supplementary repository
 * (package spal-release, AL2023 2023.9.20251117 and later).
 */
const INSTALL_BUILDAH = command(
  'if command -v buildah >/dev/null 2>&1; then echo "buildah is installed";',
  'elif command -v apt-get >/dev/null 2>&1; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q buildah;',
  'elif command -v dnf >/dev/null 2>&1; then dnf install -y -q buildah || { dnf install -y -q spal-release && dnf install -y -q buildah; }',
  '|| { echo "error: dnf found no buildah package (Amazon Linux 2023 has none in its own repository, and none came from SPAL).',
  'Use a build image with Buildah 1.29 or later, or CacheStrategy.registry()." >&2; false; };',
  'elif command -v yum >/dev/null 2>&1; then yum install -y -q buildah;',
  'else echo "error: buildah is missing and there is no apt-get, dnf or yum to install it" >&2; false; fi',
);

/** One `"<registry>":{"auth":"<base64 of AWS:token>"}` entry of an auth file, from the token in `t`. */
function authEntry(registryVariable: string): string {
  return `\\"$${registryVariable}\\":{\\"auth\\":\\"$(printf 'AWS:%s' "$t" | base64 -w0)\\"}`;
}

/** Gets an ECR token for the region in `regionVariable` into `t`, and fails when it is empty. */
function ecrToken(regionVariable: string): string {
  return `t="$(aws ecr get-login-password --region "$${regionVariable}")" && [ -n "$t" ]`;
}

/**
 * Writes what `buildah login` stores, directly: no registry ping, the token never on a command line.
 * `&&` chains, not `set -e`: set -e is ignored inside a command that is itself part of a `||` list.
 * The cache registry's entry is optional: without it the build only goes without its cache.
 */
const WRITE_AUTH_FILE = command(
  `( set -o pipefail; ${ecrToken('CIB_IMAGE_REGION')} &&`,
  `entries="${authEntry('CIB_IMAGE_REGISTRY')}" &&`,
  `if [ "$CIB_CACHE_REGISTRY" != "$CIB_IMAGE_REGISTRY" ]; then { ${ecrToken('CIB_CACHE_REGION')} &&`,
  `entries="$entries,${authEntry('CIB_CACHE_REGISTRY')}"; }`,
  '|| echo "warning: no ECR token for the cache registry $CIB_CACHE_REGISTRY; the build goes on without its cache" >&2; fi &&',
  'printf \'{"auths":{%s}}\\n\' "$entries" > "$REGISTRY_AUTH_FILE" )',
);

const CACHE_FROM = '--cache-from "$CIB_CACHE_REPOSITORY_URI"';

/**
 * `--cache-to` the cache repository, in the array CIB_CACHE_TO, for a build that writes a cache and is
 * not a pull request: Buildah keys its cache by step content in one namespace shared by every branch,
 * so a pull request (any policy) only reads it.
 */
const CACHE_TO_ARRAY = command(
  'CIB_CACHE_TO=(); if [ -n "$CIB_CACHE_WRITE_SCOPE" ] && [ "$CIB_EVENT" != pull-request ]; then',
  'CIB_CACHE_TO=(--cache-to "$CIB_CACHE_REPOSITORY_URI"); fi;',
);

/** How Buildah reports a refused cache push (imagebuildah's stage executor: `failed pushing cache to ...`). */
const CACHE_PUSH_FAILED = '^Error: failed pushing cache to ';

/** Buildah with `--layers`: one cache tag per step in the cache repository, named by the step's content hash. */
export class BuildahCache extends CacheStrategy {
  public readonly name = 'buildah';
  public readonly usesCacheRepository = true;

  constructor(private readonly install: boolean, private readonly allowOlder: boolean) {
    super();
  }

  public _render(context: StrategyContext): StrategyScript {
    return {
      install: this.install ? [INSTALL_BUILDAH, 'buildah --version'] : [],
      preBuild: [CHECK_BUILDAH_VERSION, 'export REGISTRY_AUTH_FILE="$(mktemp)"', WRITE_AUTH_FILE, 'CIB_DIGEST_FILE="$(mktemp)"'],
      buildCommands: [command(context.argumentArrays, CACHE_TO_ARRAY, buildWithFallback(context.commonArgs))],
      pushCommands: [
        pushEachTag('buildah', '--digestfile "$CIB_DIGEST_FILE"', explainImmutableRefusal('CIB_PUSH_LOG')),
        'export IMAGE_DIGEST=""; if [ "$CIB_PUSH" = true ]; then IMAGE_DIGEST="$(cat "$CIB_DIGEST_FILE")"; fi',
        REQUIRE_DIGEST,
      ],
      logFormat: 'buildah',
      environment: { CIB_BUILDAH_ALLOW_OLDER: String(this.allowOlder) },
    };
  }

  /** Buildah reads registry credentials from REGISTRY_AUTH_FILE only (it ignores Docker's config once that is set). */
  public _loginTool(): string {
    return 'buildah';
  }

  /** Cache tags are step hashes shared by all branches: expire them all by age. */
  public _cacheLifecycleRules(_defaultCacheTag: string, retention: Duration): ecr.LifecycleRule[] {
    return expireUntaggedAndAged(retention, 'cache tags');
  }
}

/**
 * The build with cache export. A refused cache push fails `buildah build`: only then build again
 * without exporting (local layers make it quick). Any other failure fails the build once, with its
 * own error.
 */
function buildWithFallback(commonArgs: string): string {
  const build = (cacheTo: string) => `buildah build --layers ${CACHE_FROM} ${cacheTo}${commonArgs} "$CIB_BUILD_CONTEXT"`;
  return command(
    `set -o pipefail; if ${build('"${CIB_CACHE_TO[@]}" ')} 2>&1 | tee "$CIB_BUILD_LOG"; then true;`,
    `elif [ "\${#CIB_CACHE_TO[@]}" -gt 0 ] && grep -q '${CACHE_PUSH_FAILED}' "$CIB_BUILD_LOG"; then`,
    // The warning goes into the build log too: the step counter counts the first attempt only, up to it.
    'echo "warning: the build with cache export failed; building again without exporting the cache" | tee -a "$CIB_BUILD_LOG" >&2;',
    `${build('')} 2>&1 | tee -a "$CIB_BUILD_LOG"; else false; fi`,
  );
}
