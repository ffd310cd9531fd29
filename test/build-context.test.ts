import { ImageTag } from '../src/image-tag';
import { runCases } from './helpers/bash-cases';
import { RESOLVE_BUILD_CONTEXT } from '../src/script/build-context';
import { renderTagSelection } from '../src/script/push-tags';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const PROJECT = {
  CIB_DEFAULT_BRANCH: 'main',
  CIB_DEFAULT_CACHE_TAG: 'main',
  CIB_PR_POLICY: 'push',
  CIB_PR_SECRETS: 'false',
  CIB_IMAGE_REPOSITORY_URI: '123456789012.dkr.ecr.us-east-1.amazonaws.com/api',
  CODEBUILD_RESOLVED_SOURCE_VERSION: SHA,
};
const OUTPUTS = ['BUILD_EVENT', 'BUILD_REF', 'PULL_REQUEST_NUMBER', 'CIB_IS_DEFAULT', 'CIB_CACHE_SCOPE', 'CIB_CACHE_WRITE_SCOPE',
  'CIB_CACHE_READ_SCOPES', 'CIB_MOUNT_SECRETS', 'CIB_PUSH_TAGS', 'IMAGE_TAG', 'IMAGE_URI', 'CIB_PUSH'];

const tags = renderTagSelection([ImageTag.commit(), ImageTag.gitTag(), ImageTag.of('latest')]);
const COMMANDS = [...RESOLVE_BUILD_CONTEXT, ...tags.commands];

function webhook(event: string, trigger: string, head: string, base?: string): Record<string, string> {
  return {
    CODEBUILD_WEBHOOK_EVENT: event,
    CODEBUILD_WEBHOOK_TRIGGER: trigger,
    CODEBUILD_WEBHOOK_HEAD_REF: head,
    ...(base !== undefined ? { CODEBUILD_WEBHOOK_BASE_REF: base } : {}),
  };
}

interface Row {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly scope: string;
  readonly writes: string;
  readonly reads: string;
  readonly tags: string;
  readonly secrets: boolean;
}

const long = 'x'.repeat(200);
/** Four 3-byte UTF-8 characters: 12 bytes, each mapped to '-'. */
const DASHES_12 = '-'.repeat(12);
const ROWS: Row[] = [
  { name: 'push main', env: webhook('PUSH', 'branch/main', 'refs/heads/main'), scope: 'main', writes: 'main', reads: 'main', tags: `${SHA} latest`, secrets: true },
  {
    name: 'push feature/login',
    env: webhook('PUSH', 'branch/feature/login', 'refs/heads/feature/login'),
    scope: 'br-feature-login-h',
    writes: 'br-feature-login-h',
    reads: 'br-feature-login-h main',
    tags: SHA,
    secrets: true,
  },
  {
    name: 'push feature-login',
    env: webhook('PUSH', 'branch/feature-login', 'refs/heads/feature-login'),
    scope: 'br-feature-login',
    writes: 'br-feature-login',
    reads: 'br-feature-login main',
    tags: SHA,
    secrets: true,
  },
  {
    name: 'PR from a fork\'s main',
    env: webhook('PULL_REQUEST_CREATED', 'pr/123', 'refs/heads/main', 'refs/heads/main'),
    scope: 'pr-123',
    writes: 'pr-123',
    reads: 'pr-123 main',
    tags: 'pr-123',
    secrets: false,
  },
  {
    name: 'PR from a same-repo branch into develop',
    env: webhook('PULL_REQUEST_UPDATED', 'pr/7', 'refs/heads/feature/x', 'refs/heads/develop'),
    scope: 'pr-7',
    writes: 'pr-7',
    reads: 'pr-7 br-develop main',
    tags: 'pr-7',
    secrets: false,
  },
  {
    name: 'PR merged',
    env: webhook('PULL_REQUEST_MERGED', 'pr/9', 'refs/heads/main', 'refs/heads/main'),
    scope: 'pr-9',
    writes: 'pr-9',
    reads: 'pr-9 main',
    tags: 'pr-9',
    secrets: false,
  },
  {
    name: 'tag v1.2.3',
    env: webhook('PUSH', 'tag/v1.2.3', 'refs/tags/v1.2.3'),
    scope: 'tag-v1.2.3',
    writes: 'tag-v1.2.3',
    reads: 'tag-v1.2.3 main',
    tags: 'v1.2.3',
    secrets: true,
  },
  {
    name: 'tag named main',
    env: webhook('PUSH', 'tag/main', 'refs/tags/main'),
    scope: 'tag-main',
    writes: 'tag-main',
    reads: 'tag-main main',
    tags: 'main',
    secrets: true,
  },
  {
    name: 'tag named latest',
    env: webhook('PUSH', 'tag/latest', 'refs/tags/latest'),
    scope: 'tag-latest',
    writes: 'tag-latest',
    reads: 'tag-latest main',
    tags: 'tag-latest',
    secrets: true,
  },
  {
    name: 'branch .main',
    env: webhook('PUSH', 'branch/.main', 'refs/heads/.main'),
    scope: 'br-.main',
    writes: 'br-.main',
    reads: 'br-.main main',
    tags: SHA,
    secrets: true,
  },
  {
    name: 'branch -main',
    env: webhook('PUSH', 'branch/-main', 'refs/heads/-main'),
    scope: 'br--main',
    writes: 'br--main',
    reads: 'br--main main',
    tags: SHA,
    secrets: true,
  },
  {
    name: 'non-ASCII branch',
    env: webhook('PUSH', 'branch/ブランチ', 'refs/heads/ブランチ'),
    scope: `br-${DASHES_12}-h`,
    writes: `br-${DASHES_12}-h`,
    reads: `br-${DASHES_12}-h main`,
    tags: SHA,
    secrets: true,
  },
  {
    name: 'full-width main',
    env: webhook('PUSH', 'branch/ｍａｉｎ', 'refs/heads/ｍａｉｎ'),
    scope: `br-${DASHES_12}-h`,
    writes: `br-${DASHES_12}-h`,
    reads: `br-${DASHES_12}-h main`,
    tags: SHA,
    secrets: true,
  },
  {
    name: '200-byte branch',
    env: webhook('PUSH', `branch/${long}`, `refs/heads/${long}`),
    scope: `br-${'x'.repeat(80)}-h`,
    writes: `br-${'x'.repeat(80)}-h`,
    reads: `br-${'x'.repeat(80)}-h main`,
    tags: SHA,
    secrets: true,
  },
  { name: 'empty / unknown (no variables)', env: {}, scope: '', writes: '', reads: 'main', tags: SHA, secrets: true },
  { name: 'manual start of main', env: { CODEBUILD_SOURCE_VERSION: 'main' }, scope: 'main', writes: 'main', reads: 'main', tags: `${SHA} latest`, secrets: true },
  { name: 'manual start of a bare SHA', env: { CODEBUILD_SOURCE_VERSION: SHA }, scope: '', writes: '', reads: 'main', tags: SHA, secrets: true },
  { name: 'manual start of pr/5', env: { CODEBUILD_SOURCE_VERSION: 'pr/5' }, scope: 'pr-5', writes: 'pr-5', reads: 'pr-5 main', tags: 'pr-5', secrets: false },
  {
    name: 'pipeline with branch main',
    env: { CIB_TRIGGER: 'pipeline', CIB_BRANCH: 'main', CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::b/k' },
    scope: 'main',
    writes: 'main',
    reads: 'main',
    tags: `${SHA} latest`,
    secrets: true,
  },
  {
    name: 'pipeline without a branch variable',
    env: { CIB_TRIGGER: 'pipeline', CODEBUILD_SOURCE_VERSION: 'arn:aws:s3:::b/k' },
    scope: '',
    writes: '',
    reads: 'main',
    tags: SHA,
    secrets: true,
  },
  {
    name: 'pipeline pull request from main',
    env: { CIB_TRIGGER: 'pipeline', CIB_BRANCH: 'main', CIB_PIPELINE_PULL_REQUEST: 'true' },
    scope: 'pr-br-main',
    writes: 'pr-br-main',
    reads: 'pr-br-main main',
    tags: 'pr-br-main',
    secrets: false,
  },
];

describe('build context: (event, refs, PR number, default branch) -> (scopes, tags, secrets)', () => {
  const results = runCases(COMMANDS, ROWS.map((r) => ({ ...PROJECT, ...tags.environment, ...r.env })), OUTPUTS);

  test.each(ROWS.map((row, i) => [row.name, row, i] as const))('%s', (_name, row, i) => {
    const { vars, failed, stderr } = results[i];
    expect({ failed, log: failed >= 0 ? stderr : '' }).toEqual({ failed: -1, log: '' });
    // Hashed names end in 12 hex digits: compare the readable part, then the hash's shape.
    const unhash = (s: string) => s.replace(/-h[0-9a-f]{12}\b/g, '-h');
    expect(unhash(vars.CIB_CACHE_SCOPE)).toBe(row.scope);
    expect(unhash(vars.CIB_CACHE_WRITE_SCOPE)).toBe(row.writes);
    expect(unhash(vars.CIB_CACHE_READ_SCOPES)).toBe(row.reads);
    expect(vars.CIB_PUSH_TAGS).toBe(row.tags);
    expect(vars.IMAGE_TAG).toBe(row.tags.split(' ')[0]);
    expect(vars.CIB_MOUNT_SECRETS).toBe(String(row.secrets));
    expect(vars.CIB_IS_DEFAULT).toBe(String(vars.CIB_CACHE_SCOPE === 'main'));
  });
});
