import { CacheStrategy } from './cache-strategy';
import { StrategyContext, StrategyScript } from './strategy-script';
import { explainingRefusal } from '../script/existing-image';
import { BUILDX_COMMON, DIGEST_FROM_METADATA, DOCKER_LOGIN, PUSH_OUTPUT_ARRAY, command, teeBuildLog } from '../script/fragments';

/** No layer cache: `docker buildx build --no-cache --push` with the engine's builder (no push for a pull request built only). */
export class NoCache extends CacheStrategy {
  public readonly name = 'none';
  public readonly usesCacheRepository = false;

  public _render(context: StrategyContext): StrategyScript {
    const build = command(
      'docker buildx build --progress=plain "${CIB_OUTPUT[@]}" --no-cache --provenance="$CIB_PROVENANCE" --metadata-file "$CIB_METADATA_FILE"',
      context.commonArgs,
      '"$CIB_BUILD_CONTEXT"',
    );
    return {
      install: [],
      preBuild: [...DOCKER_LOGIN, ...BUILDX_COMMON],
      buildCommands: [command(context.argumentArrays, PUSH_OUTPUT_ARRAY, explainingRefusal(teeBuildLog(build), 'CIB_BUILD_LOG'))],
      pushCommands: DIGEST_FROM_METADATA,
      logFormat: 'buildkit',
      environment: {},
    };
  }

  /** `docker buildx build` needs the buildx plugin. */
  public _needsBuildx(): boolean {
    return true;
  }
}
