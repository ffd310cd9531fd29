import { createHash } from 'crypto';
import { branchToTag } from '../../src/ecr-naming';

/**
 * An independent model, in TypeScript, of what the build context commands (src/script/build-context.ts
 * and push-tags.ts) compute in bash: tests compare the two on generated input, and use the model as
 * the oracle of what a build must read, write and push. Written from the rules in
 * docs/pull-requests.md, not from the shell text.
 */

const TAG_CHARACTER = /^[A-Za-z0-9._-]$/;

/** `prefix` + the ref as it is, or mapped to tag characters, cut to 80 bytes, with the hash of the raw ref. */
export function scopeName(prefix: string, raw: string): string {
  if (/^[A-Za-z0-9._-]{1,80}$/.test(raw) && !/-h[0-9a-f]{12}$/.test(raw)) return prefix + raw;
  const bytes = Buffer.from(raw, 'utf8');
  let mapped = '';
  for (const b of bytes.subarray(0, 80)) mapped += TAG_CHARACTER.test(String.fromCharCode(b)) ? String.fromCharCode(b) : '-';
  return `${prefix}${mapped}-h${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`;
}

export interface ModelProject {
  readonly defaultBranch: string;
  readonly policy: 'push' | 'build-only';
  readonly mountSecrets: boolean;
  /** The kinds of `imageTags` in order: 'commit', 'git-tag', 'branch', or a fixed tag's value. */
  readonly imageTags: string[];
}

export interface ModelResult {
  readonly event: string;
  readonly refKind: string;
  readonly ref: string;
  readonly prNumber: string;
  readonly isDefault: boolean;
  readonly scope: string;
  readonly writeScope: string;
  readonly readScopes: string[];
  readonly mountSecrets: boolean;
  readonly pushTags: string[];
}

const strip = (s: string, prefix: string) => (s.startsWith(prefix) ? s.slice(prefix.length) : s);

/** Which event and ref the variables describe. */
function eventOf(env: Record<string, string | undefined>) {
  const t = env.CODEBUILD_WEBHOOK_TRIGGER ?? '';
  const e = env.CODEBUILD_WEBHOOK_EVENT ?? '';
  const h = env.CODEBUILD_WEBHOOK_HEAD_REF ?? '';
  let event = ''; let kind = ''; let ref = ''; let pr = ''; let base = '';
  if (t.startsWith('pr/') || e.startsWith('PULL_REQUEST_')) {
    event = 'pull-request'; kind = 'branch'; ref = strip(h, 'refs/heads/');
    base = strip(env.CODEBUILD_WEBHOOK_BASE_REF ?? '', 'refs/heads/');
    if (t.startsWith('pr/')) pr = t.slice(3);
  } else if (t + e !== '') {
    event = 'push';
    if (h.startsWith('refs/heads/')) { kind = 'branch'; ref = h.slice(11); } else if (h.startsWith('refs/tags/')) { kind = 'tag'; ref = h.slice(10); } else if (t.startsWith('branch/')) { kind = 'branch'; ref = t.slice(7); } else if (t.startsWith('tag/')) { kind = 'tag'; ref = t.slice(4); }
    if (kind === 'tag') event = 'tag';
  } else if (env.CIB_TRIGGER === 'pipeline') {
    event = 'pipeline';
    if (env.CIB_BRANCH) { kind = 'branch'; ref = strip(env.CIB_BRANCH, 'refs/heads/'); }
    if (env.CIB_PIPELINE_PULL_REQUEST === 'true') event = 'pull-request';
  } else {
    event = 'manual';
    const s = env.CODEBUILD_SOURCE_VERSION ?? '';
    if (s.startsWith('pr/')) { event = 'pull-request'; pr = s.slice(3); } else if (s.startsWith('refs/heads/')) { kind = 'branch'; ref = s.slice(11); } else if (s.startsWith('refs/tags/')) { kind = 'tag'; ref = s.slice(10); } else if (s !== '' && !s.startsWith('arn:') && !/^[0-9a-fA-F]{40}$/.test(s)) { kind = 'branch'; ref = s; }
  }
  if (!/^[0-9]{1,18}$/.test(pr)) pr = '';
  if (ref === '') kind = '';
  return { event, kind, ref, pr, base };
}

export function modelBuild(project: ModelProject, env: Record<string, string | undefined>): ModelResult {
  const { event, kind, ref, pr, base } = eventOf(env);
  const defaultTag = branchToTag(project.defaultBranch);
  const isPr = event === 'pull-request';
  const isDefault = !isPr && kind === 'branch' && ref === project.defaultBranch;
  let scope = '';
  if (isPr) scope = pr ? `pr-${pr}` : ref ? scopeName('pr-br-', ref) : '';
  else if (isDefault) scope = defaultTag;
  else if (kind === 'branch') scope = scopeName('br-', ref);
  else if (kind === 'tag') scope = scopeName('tag-', ref);
  const writeScope = isPr && project.policy !== 'push' ? '' : scope;
  const readScopes = [scope, ...(base && base !== project.defaultBranch ? [scopeName('br-', base)] : []), ...(scope !== defaultTag ? [defaultTag] : [])]
    .filter((s) => s !== '');
  const fixed = project.imageTags.filter((t) => !['commit', 'git-tag', 'branch'].includes(t));
  const commit = branchToTag(env.CODEBUILD_RESOLVED_SOURCE_VERSION ?? '') || `build-${env.CODEBUILD_BUILD_NUMBER ?? '0'}`;
  const gitTag = (/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,79}$/.test(ref) && scopeName('tag-', ref) === `tag-${ref}` && !/^(pr|br|tag|build)-/.test(ref) &&
    !/^[0-9a-fA-F]{40}$/.test(ref) && !fixed.includes(ref)) ? ref : scopeName('tag-', ref);
  let pushTags: string[] = [];
  for (const t of project.imageTags) {
    if (t === 'commit' && !isPr && kind !== 'tag') pushTags.push(commit);
    else if (t === 'git-tag' && !isPr && kind === 'tag') pushTags.push(gitTag);
    else if (t === 'branch' && !isPr && kind === 'branch') pushTags.push(scopeName('br-', ref));
    else if (fixed.includes(t) && isDefault) pushTags.push(t);
  }
  if (isPr && project.policy === 'push') pushTags = scope ? [scope] : [];
  return {
    event,
    refKind: kind,
    ref,
    prNumber: pr,
    isDefault,
    scope,
    writeScope,
    readScopes,
    mountSecrets: !isPr || project.mountSecrets,
    pushTags,
  };
}
