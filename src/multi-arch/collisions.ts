import { Stack, aws_ecr as ecr } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { ResolvedOptions } from '../options/resolve-options';

/**
 * Synth-time checks across the builds of one stack: two builds that would create the same cache
 * repository (CloudFormation refuses the second), or push the same tags to one application
 * repository (an immutable commit tag refuses the second push; the last build moves a fixed tag).
 * The usual cause is one build per architecture; one build with `platforms` is the fix.
 */

interface BuildRecord {
  readonly path: string;
  readonly repository: string;
  readonly cacheRepository?: string;
  readonly tags: string[];
}

const BUILDS = new WeakMap<Stack, BuildRecord[]>();

const HINT = 'To publish several architectures under one image name, build them with one CachedImageBuild and ' +
  'platforms: [Platform.LINUX_AMD64, Platform.LINUX_ARM64]';

/** What the build pushes, by kind: the commit, git tag, branch and pull-request tags, and each fixed tag. */
function pushedTags(options: ResolvedOptions): string[] {
  const kinds: Record<string, string> = { 'commit': 'the commit tag', 'git-tag': 'the git tag', 'branch': 'the br-<branch> tag' };
  const tags = options.imageTags.map((t) => (t.kind === 'fixed' ? `'${t.value}'` : kinds[t.kind]));
  return options.pullRequests.mode === 'push' ? [...tags, 'the pr-<number> tag'] : tags;
}

/** The repository's name as CloudFormation will see it: a literal, or the same reference for the same resource. */
function repositoryKey(stack: Stack, repository: ecr.IRepository): string {
  const name = stack.resolve(repository.repositoryName);
  return typeof name === 'string' ? name : JSON.stringify(name);
}

/** Records the build and throws when it collides with an earlier build of its stack. */
export function checkCollisions(build: Construct, options: ResolvedOptions, repository: ecr.IRepository, createsCacheRepository: boolean): void {
  const stack = Stack.of(build);
  const records = BUILDS.get(stack) ?? [];
  const record: BuildRecord = {
    path: build.node.path,
    repository: repositoryKey(stack, repository),
    cacheRepository: createsCacheRepository ? options.cacheRepositoryName : undefined,
    tags: pushedTags(options),
  };
  for (const other of records) {
    if (record.cacheRepository !== undefined && record.cacheRepository === other.cacheRepository) {
      throw new Error(`CachedImageBuild '${record.path}' would create the cache repository '${record.cacheRepository}', which ` +
        `'${other.path}' creates already (the cache repository is named after the application repository): ` +
        `CloudFormation would refuse the second. ${HINT}; otherwise give one of them cacheRepository.`);
    }
    const shared = record.tags.filter((t) => other.tags.includes(t));
    if (record.repository === other.repository && shared.length > 0) {
      throw new Error(`CachedImageBuild '${record.path}' would push ${shared.join(', ')} to the repository that ` +
        `'${other.path}' pushes to (${record.repository}): an immutable tag refuses the second push and the last build ` +
        `moves a fixed tag. ${HINT}; otherwise give each build its own repository or imageTags.`);
    }
  }
  records.push(record);
  BUILDS.set(stack, records);
}
