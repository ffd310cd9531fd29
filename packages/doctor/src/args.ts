/**
 * Command-line arguments of `cdk-cached-image-build-doctor`. Pure: no AWS, no I/O.
 */
import { parseArgs } from 'node:util';
import { STRATEGIES, StrategyName } from './layout';
import { branchScope } from './scopes';
import { ECR_REPOSITORY_NAME_PATTERN, branchToTag } from './tags';

/** The program's name, as installed by the package's bin entry. */
export const PROGRAM = 'cdk-cached-image-build-doctor';

export const SYNOPSIS = `Usage: ${PROGRAM} --repository NAME --cache-repository NAME [options]`;

export const USAGE = `${SYNOPSIS}

Explains why the layer cache of a CachedImageBuild might not hit, by reading the ECR
repositories (read-only: ecr:DescribeRepositories, ecr:GetLifecyclePolicy, ecr:DescribeImages,
ecr:BatchGetImage).

Required:
  --repository NAME         the application image repository (a name, or a repository URI)
  --cache-repository NAME   the cache repository (usually NAME-cache; a name, or a repository URI)

Options:
  --region REGION           AWS region (default: AWS_REGION, or the region of your AWS profile)
  --branch BRANCH           also check the cache of this branch (a name or refs/heads/... ref)
  --default-branch BRANCH   the construct's defaultBranch (default: main)
  --strategy NAME           the construct's cache strategy: registry, inline or buildah
                            (default: detected from the cache repository's contents)
  --profile NAME            AWS profile to use (default: AWS_PROFILE, or the default chain)
  --recent-images N         how many of the newest tagged images of the application
                            repository to inspect for provenance indexes (1-100, default 20)
  --max-attempts N          attempts per ECR call, with backoff on throttling (1-20, default 5)
  --json                    print the report as JSON
  -h, --help                print this help

Exit code: 0 healthy, 1 problems found, 2 could not check (bad arguments, no credentials,
access denied, throttled, ...).`;

/** What the doctor checks, resolved from the arguments. */
export interface DoctorOptions {
  readonly repository: string;
  readonly cacheRepository: string;
  /** Account of the application repository, when given as a URI. */
  readonly registryId?: string;
  /** Account of the cache repository, when given as a URI. */
  readonly cacheRegistryId?: string;
  readonly region?: string;
  readonly profile?: string;
  /** The branch to check, as given. */
  readonly branch?: string;
  /** Its cache scope (`br-<branch>`, or the default branch's); empty when the ref names nothing (builds write no cache). */
  readonly branchTag?: string;
  readonly defaultBranch: string;
  /** The default branch's cache scope (its cache tag, mapped with branchToTag). */
  readonly defaultBranchTag: string;
  /** The cache strategy, when given; otherwise detected from the cache repository. */
  readonly strategy?: StrategyName;
  readonly recentImages: number;
  readonly maxAttempts: number;
  readonly json: boolean;
}

export type ParsedArgs =
  | { readonly kind: 'run'; readonly options: DoctorOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'error'; readonly message: string };

/** `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-isoe-west-1`, ... */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/api` (also `.amazonaws.com.cn`). */
const REPOSITORY_URI_PATTERN = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(.+)$/;

interface RepositoryRef {
  readonly name: string;
  readonly registryId?: string;
  readonly region?: string;
}

function parseRepository(flag: string, value: string): RepositoryRef | string {
  let ref: RepositoryRef = { name: value };
  const uri = REPOSITORY_URI_PATTERN.exec(value.replace(/^[a-z]+:\/\//, ''));
  if (uri) {
    ref = { registryId: uri[1], region: uri[2], name: uri[3].replace(/[:@].*$/, '') };
  }
  if (ref.name.length < 2 || ref.name.length > 256 || !ECR_REPOSITORY_NAME_PATTERN.test(ref.name)) {
    return `${flag}: '${value}' is not an ECR repository name (2-256 lowercase letters, digits, . _ - between them, / between path parts) or repository URI`;
  }
  return ref;
}

function parseCount(flag: string, value: string | undefined, fallback: number, max: number): number | string {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    return `${flag} must be a whole number from 1 to ${max}; got '${value}'`;
  }
  return Number(value);
}

/** Parses the arguments after the program name (`--repository api ...`). */
export function parseDoctorArgs(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'repository': { type: 'string' },
        'cache-repository': { type: 'string' },
        'region': { type: 'string' },
        'branch': { type: 'string' },
        'default-branch': { type: 'string' },
        'strategy': { type: 'string' },
        'profile': { type: 'string' },
        'recent-images': { type: 'string' },
        'max-attempts': { type: 'string' },
        'json': { type: 'boolean' },
        'help': { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    // parseArgs names the unknown flag or the flag that lacks its value.
    return { kind: 'error', message: (e as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (positionals.length > 0) {
    return { kind: 'error', message: `unexpected argument '${positionals[0]}' (every option is a --flag)` };
  }

  const missing = ['repository', 'cache-repository'].filter((f) => values[f as 'repository'] === undefined);
  if (missing.length > 0) {
    return { kind: 'error', message: `missing required ${missing.map((f) => `--${f}`).join(' and ')}` };
  }
  const app = parseRepository('--repository', values.repository!);
  if (typeof app === 'string') return { kind: 'error', message: app };
  const cache = parseRepository('--cache-repository', values['cache-repository']!);
  if (typeof cache === 'string') return { kind: 'error', message: cache };

  const regions = new Set([values.region, app.region, cache.region].filter((r): r is string => r !== undefined));
  if (regions.size > 1) {
    return {
      kind: 'error',
      message: `the repositories and --region name different regions (${[...regions].join(', ')}); both repositories must be in the region checked`,
    };
  }
  const region = [...regions][0];
  if (region !== undefined && !REGION_PATTERN.test(region)) {
    return { kind: 'error', message: `--region: '${region}' is not an AWS region name (like us-east-1 or eu-west-2)` };
  }

  const defaultBranch = values['default-branch'] ?? 'main';
  const defaultBranchTag = branchToTag(defaultBranch);
  if (defaultBranchTag === '') {
    return { kind: 'error', message: `--default-branch: '${defaultBranch}' has no character that can start an ECR tag` };
  }
  if (values.branch === '') {
    return { kind: 'error', message: '--branch must not be empty' };
  }

  const strategy = values.strategy;
  if (strategy !== undefined && !STRATEGIES.includes(strategy as StrategyName)) {
    return { kind: 'error', message: `--strategy must be one of ${STRATEGIES.join(', ')}; got '${strategy}'` };
  }

  const recentImages = parseCount('--recent-images', values['recent-images'], 20, 100);
  if (typeof recentImages === 'string') return { kind: 'error', message: recentImages };
  const maxAttempts = parseCount('--max-attempts', values['max-attempts'], 5, 20);
  if (typeof maxAttempts === 'string') return { kind: 'error', message: maxAttempts };
  if (values.profile === '') return { kind: 'error', message: '--profile must not be empty' };

  return {
    kind: 'run',
    options: {
      repository: app.name,
      cacheRepository: cache.name,
      registryId: app.registryId,
      cacheRegistryId: cache.registryId,
      region,
      profile: values.profile,
      branch: values.branch,
      branchTag: values.branch === undefined ? undefined : branchScope(values.branch, defaultBranch),
      defaultBranch,
      defaultBranchTag,
      strategy: strategy as StrategyName | undefined,
      recentImages,
      maxAttempts,
      json: values.json ?? false,
    },
  };
}
