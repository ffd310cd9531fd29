import { RESOLVE_COMMIT_TAG } from './branch';
import { shellScopeName } from './build-context';
import { command } from './fragments';
import { ImageTag } from '../image-tag';

/**
 * Which image tags this build pushes, chosen at build time from the build context (see
 * `build-context.ts`): a space-separated list in CIB_PUSH_TAGS (every value is made of ECR tag
 * characters, so splitting it on spaces is safe), the first one exported as IMAGE_TAG.
 */
export interface TagSelection {
  /** pre_build commands, after the build context. */
  readonly commands: string[];
  /** Project variables the commands read (fixed tags). */
  readonly environment: Record<string, string>;
}

/** Conditions, on the build context's variables, under which each kind of tag is pushed. */
const NOT_PR = '[ "$CIB_EVENT" != pull-request ]';
const WHEN = {
  commit: `${NOT_PR} && [ "$CIB_REF_KIND" != tag ]`,
  gitTag: `${NOT_PR} && [ "$CIB_REF_KIND" = tag ]`,
  branch: `${NOT_PR} && [ "$CIB_REF_KIND" = branch ]`,
  fixed: '[ "$CIB_IS_DEFAULT" = true ]',
};

/**
 * The git tag as an image tag: as it is when that cannot collide with another kind of tag, else its
 * `tag-` scope name (never equal to a name used as it is: those cannot start with `tag-`).
 */
const GIT_TAG = command(
  `CIB_GIT_TAG=""; if [ "$CIB_REF_KIND" = tag ]; then ${shellScopeName('CIB_GIT_TAG', 'tag-', 'CIB_REF')};`,
  'if [ "$CIB_GIT_TAG" = "tag-$r" ] && [[ "$r" != [.-]* ]] && [[ "$r" != pr-* && "$r" != br-* && "$r" != tag-* && "$r" != build-* ]] &&',
  '! [[ "$r" =~ ^[0-9a-fA-F]{40}$ ]] && [[ " $CIB_FIXED_TAGS " != *" $r "* ]]; then CIB_GIT_TAG="$r"; fi; fi',
);

/** The pull request's tag: its cache scope (`pr-<number>`), when the policy pushes. */
const PULL_REQUEST_TAG = command(
  'if [ "$CIB_EVENT" = pull-request ] && [ "$CIB_PR_POLICY" = push ]; then',
  'if [ -n "$CIB_CACHE_SCOPE" ]; then CIB_PUSH_TAGS="$CIB_CACHE_SCOPE";',
  'else echo "warning: this pull request build has no number or branch to name its image; it pushes nothing" >&2; fi; fi',
);

/** Nothing to push is an error, except for a pull request (build only). */
const REQUIRE_A_TAG = command(
  'CIB_PUSH_TAGS="${CIB_PUSH_TAGS# }"; export IMAGE_TAG="${CIB_PUSH_TAGS%% *}"; CIB_PUSH=true;',
  'if [ -z "$IMAGE_TAG" ]; then CIB_PUSH=false; export IMAGE_URI="";',
  'if [ "$CIB_EVENT" = pull-request ]; then echo "pull request: building only, nothing is pushed";',
  'else echo "error: no tag of imageTags applies to this build (event $CIB_EVENT, $CIB_REF_KIND \'$CIB_REF\');',
  'add ImageTag.gitTag() for git tags, ImageTag.commit() for branches, or leave such events out of the webhook filters" >&2; false; fi;',
  'else export IMAGE_URI="$CIB_IMAGE_REPOSITORY_URI:$IMAGE_TAG"; echo "image tags: $CIB_PUSH_TAGS"; fi',
);

/** The commands that choose the tags of this build, for the given `imageTags`. */
export function renderTagSelection(imageTags: ImageTag[]): TagSelection {
  const environment: Record<string, string> = {};
  const commands: string[] = ['CIB_PUSH_TAGS=""'];
  const fixed: string[] = [];
  if (imageTags.some((t) => t.kind === 'commit')) commands.push(...RESOLVE_COMMIT_TAG);
  if (imageTags.some((t) => t.kind === 'git-tag')) commands.push(GIT_TAG);
  for (const tag of imageTags) {
    switch (tag.kind) {
      case 'commit':
        commands.push(`if ${WHEN.commit}; then CIB_PUSH_TAGS="$CIB_PUSH_TAGS $CIB_COMMIT_TAG"; fi`);
        break;
      case 'git-tag':
        commands.push(`if ${WHEN.gitTag}; then CIB_PUSH_TAGS="$CIB_PUSH_TAGS $CIB_GIT_TAG"; fi`);
        break;
      case 'branch':
        commands.push(command(
          `if ${WHEN.branch}; then ${shellScopeName('CIB_BRANCH_TAG', 'br-', 'CIB_REF')};`,
          'CIB_PUSH_TAGS="$CIB_PUSH_TAGS $CIB_BRANCH_TAG"; fi',
        ));
        break;
      default: {
        fixed.push(tag.value!);
        const name = `CIB_IMAGE_TAG_${fixed.length}`;
        environment[name] = tag.value!;
        const when = tag.onGitTags ? `{ ${WHEN.fixed} || { ${WHEN.gitTag}; }; }` : WHEN.fixed;
        commands.push(`if ${when}; then CIB_PUSH_TAGS="$CIB_PUSH_TAGS $${name}"; fi`);
      }
    }
  }
  if (imageTags.some((t) => t.kind === 'git-tag')) {
    environment.CIB_FIXED_TAGS = fixed.join(' ');
  }
  commands.push(PULL_REQUEST_TAG, REQUIRE_A_TAG);
  return { commands, environment };
}
