import {
  Stack,
  Token,
  aws_codebuild as codebuild,
  aws_ecr as ecr,
  aws_iam as iam,
  aws_secretsmanager as secretsmanager,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { acknowledgeNagRules, nagFlatten } from './nag';
import { BuilderImageSource } from './strategies/builder-image-source';
import { BuildxBuilder } from './strategies/buildx-builder';

/** What ECR requires of the name of an upstream credential's secret. */
const CREDENTIAL_NAME_PREFIX = 'ecr-pullthroughcache/';

/** ECR's rule for a repository prefix (CreatePullThroughCacheRule `ecrRepositoryPrefix`), 2 to 30 characters. */
const REPOSITORY_PREFIX = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/** Host names Docker uses for Docker Hub, which a reference may spell out. */
const DOCKER_HUB_HOSTS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];

/** A Docker Hub image reference: path components, an optional tag, an optional digest. */
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOCKER_HUB_REFERENCE = new RegExp(
  `^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*` + // path components
  '(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?' + // tag
  '(?:@sha256:[0-9a-f]{64})?$', // digest
);

/** What the build does on the cached repositories: pull (as `grantPull`), import from upstream, create on the first pull. */
const PULL_THROUGH_ACTIONS = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:GetDownloadUrlForLayer',
  'ecr:BatchGetImage',
  'ecr:BatchImportUpstreamImage',
  'ecr:CreateRepository',
];

/** Properties of a {@link DockerHubPullThroughCache}. */
export interface DockerHubPullThroughCacheProps {
  /**
   * The Secrets Manager secret with the Docker Hub credential ECR uses upstream (ECR requires one
   * for Docker Hub): a JSON object with the keys `username` (a Docker Hub user name) and
   * `accessToken` (a Docker Hub personal access token).
   *
   * ECR requires the secret's name to start with `ecr-pullthroughcache/` and the secret to be in
   * the account and region of the rule (this stack's). ECR reads it with its service-linked role
   * `AWSServiceRoleForECRPullThroughCache`: keep the secret on the default key `aws/secretsmanager`,
   * or allow that role to decrypt with yours in the key policy.
   */
  readonly credential: secretsmanager.ISecret;

  /**
   * Prefix of the repositories ECR creates for the cached images: Docker Hub's `moby/buildkit`
   * is cached as `<prefix>/moby/buildkit`, an official image such as `node` as
   * `<prefix>/library/node`. One rule per prefix in a registry.
   *
   * @default 'docker-hub'
   */
  readonly repositoryPrefix?: string;
}

/** Options of {@link DockerHubPullThroughCache.builder}. */
export interface PullThroughCacheBuilderOptions {
  /**
   * The BuildKit image on Docker Hub, pulled through the cache. It needs a tag: ECR imports an image
   * from upstream only when it is pulled by tag. A digest after the tag pins the release; the
   * build then pulls by tag first, and by digest to start the builder.
   *
   * @default BuildxBuilder.DEFAULT_BUILDKIT_IMAGE
   */
  readonly dockerHubImage?: string;

  /**
   * Also pull the Dockerfile's Docker Hub images (`FROM`, `COPY --from`) through the cache: a
   * registry mirror for `docker.io` in the builder's buildkitd configuration. BuildKit goes to
   * Docker Hub itself when the mirror does not have an image (for instance an image pinned by
   * digest only, which ECR does not import).
   *
   * @default true
   */
  readonly mirrorDockerHub?: boolean;

  /**
   * As `DockerContainerBuilderOptions.fallbackToEngineBuilder`.
   *
   * @default false
   */
  readonly fallbackToEngineBuilder?: boolean;

  /**
   * As `DockerContainerBuilderOptions.network`.
   *
   * @default - the engine's default network (the bridge network on CodeBuild)
   */
  readonly network?: string;

  /**
   * As `DockerContainerBuilderOptions.buildkitdConfig`; with `mirrorDockerHub` the mirror's section
   * comes first, so this text must not have a `[registry."docker.io"]` section of its own.
   *
   * @default - none besides the mirror
   */
  readonly buildkitdConfig?: string;
}

/**
 * An ECR pull-through cache rule for Docker Hub, in this stack's account and region, and the
 * builders that take their BuildKit image (and, by default, the Dockerfile's Docker Hub images)
 * from it: no build pulls from Docker Hub, so Docker Hub's rate limits apply to ECR's own pulls,
 * with the rule's credential, at most once per image and day.
 */
export class DockerHubPullThroughCache extends Construct {
  /** Prefix of the cached repositories. */
  public readonly repositoryPrefix: string;

  /** The ECR registry host of the cache (`<account>.dkr.ecr.<region>.<URL suffix>`). */
  public readonly registry: string;

  /** The pull-through cache rule. */
  public readonly rule: ecr.CfnPullThroughCacheRule;

  private readonly stack: Stack;

  /**
   * @param scope the scope of the rule: its stack's account and region are the cache's
   * @param id the construct id
   * @param props the credential, and the prefix of the cached repositories
   */
  constructor(scope: Construct, id: string, props: DockerHubPullThroughCacheProps) {
    super(scope, id);
    this.stack = Stack.of(this);
    const prefix = props.repositoryPrefix ?? 'docker-hub';
    validateRepositoryPrefix(prefix);
    validateCredential(props.credential, this.stack);
    this.repositoryPrefix = prefix;
    this.registry = `${this.stack.account}.dkr.ecr.${this.stack.region}.${this.stack.urlSuffix}`;
    this.rule = new ecr.CfnPullThroughCacheRule(this, 'Rule', {
      ecrRepositoryPrefix: prefix,
      upstreamRegistry: 'docker-hub',
      upstreamRegistryUrl: 'registry-1.docker.io',
      credentialArn: props.credential.secretArn,
    });
  }

  /**
   * The URI of a Docker Hub image in the cache: `moby/buildkit:v0.33.1` becomes
   * `<registry>/<prefix>/moby/buildkit:v0.33.1`, an official image such as `node:22` becomes
   * `<registry>/<prefix>/library/node:22`.
   *
   * @param dockerHubImage a Docker Hub image reference (`[docker.io/][namespace/]name[:tag][@digest]`)
   */
  public imageUri(dockerHubImage: string): string {
    return `${this.registry}/${this.repositoryPrefix}/${dockerHubPath(dockerHubImage)}`;
  }

  /**
   * A `docker-container` builder that runs its BuildKit image from this cache, with the IAM the
   * build needs: pull, import from upstream (`ecr:BatchImportUpstreamImage`) and create the cached
   * repository on its first pull (`ecr:CreateRepository`), on this prefix's repositories only.
   *
   * @param options the BuildKit image on Docker Hub, the `docker.io` mirror, and the builder's options
   */
  public builder(options: PullThroughCacheBuilderOptions = {}): BuildxBuilder {
    const image = options.dockerHubImage ?? BuildxBuilder.DEFAULT_BUILDKIT_IMAGE;
    if (!Token.isUnresolved(image) && !hasTag(dockerHubPath(image))) {
      throw new Error(
        'DockerHubPullThroughCache.builder(): dockerHubImage must have a tag ' +
          `(ECR imports an image from upstream only on a pull by tag); got '${image}'`,
      );
    }
    const mirror = options.mirrorDockerHub ?? true;
    const userConfig = options.buildkitdConfig;
    if (mirror && userConfig !== undefined && !Token.isUnresolved(userConfig) && /^\s*\[\s*registry\s*\.\s*"docker\.io"\s*\]/m.test(userConfig)) {
      throw new Error(
        'DockerHubPullThroughCache.builder(): buildkitdConfig must not have a [registry."docker.io"] section while mirrorDockerHub is on ' +
          '(the mirror is that section); set mirrorDockerHub: false to write your own',
      );
    }
    const mirrorConfig = `[registry."docker.io"]\n  mirrors = ["${this.registry}/${this.repositoryPrefix}"]\n`;
    const buildkitdConfig = mirror ? (userConfig !== undefined ? `${mirrorConfig}${userConfig}` : mirrorConfig) : userConfig;
    const source: BuilderImageSource = {
      registry: this.registry,
      region: this.stack.region,
      grant: (scope, project) => this.grantBuild(scope, project),
    };
    return BuildxBuilder._fromImageSource({
      image: this.imageUri(image),
      fallbackToEngineBuilder: options.fallbackToEngineBuilder,
      network: options.network,
      buildkitdConfig,
    }, source);
  }

  /** The ARN pattern of the repositories this rule creates: `repository/<prefix>/*`. */
  public get repositoryArnPattern(): string {
    return this.stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${this.repositoryPrefix}/*` });
  }

  /**
   * Grants the pulls of cached images, with the import from upstream and the creation of the
   * repository on the first pull, on this prefix's repositories. The ECR login
   * (`ecr:GetAuthorizationToken`) is not part of it.
   *
   * @param grantee the principal that pulls cached images
   */
  public grantPull(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: PULL_THROUGH_ACTIONS, resourceArns: [this.repositoryArnPattern] });
  }

  /** The build's grant, in a policy of its own, whose one wildcard (the prefix's repositories) is acknowledged for cdk-nag. */
  private grantBuild(scope: Construct, project: codebuild.IProject): void {
    const policy = new iam.Policy(scope, 'DockerHubCachePolicy', {
      roles: [project.role!],
      statements: [new iam.PolicyStatement({ actions: PULL_THROUGH_ACTIONS, resources: [this.repositoryArnPattern] })],
    });
    acknowledgeNagRules(policy.node.defaultChild as iam.CfnPolicy, [{
      id: 'AwsSolutions-IAM5',
      reason: 'The repositories of an ECR pull-through cache are created by ECR on their first pull, one for each cached image, ' +
        'so they cannot be named in advance: the resource is the cache rule\'s prefix, repository/<prefix>/*, in this account and region.',
      findings: [`Resource::${nagFlatten(Stack.of(scope).resolve(this.repositoryArnPattern))}`],
    }]);
  }
}

/** The repository path and tag of a Docker Hub reference, with `library/` for an official image. */
function dockerHubPath(reference: string): string {
  if (Token.isUnresolved(reference)) {
    return reference;
  }
  const slash = reference.indexOf('/');
  const first = slash < 0 ? '' : reference.slice(0, slash);
  let path = reference;
  if (DOCKER_HUB_HOSTS.includes(first)) {
    path = reference.slice(slash + 1);
  } else if (first.includes('.') || first.includes(':') || first === 'localhost') {
    throw new Error(`DockerHubPullThroughCache: '${reference}' names the registry '${first}', not Docker Hub`);
  }
  if (!DOCKER_HUB_REFERENCE.test(path)) {
    throw new Error(
      `DockerHubPullThroughCache: '${reference}' is not a Docker Hub image reference ([namespace/]name[:tag][@sha256:<64 hex>], lower case)`,
    );
  }
  return path.includes('/') ? path : `library/${path}`;
}

/** Whether a reference path has a tag (a ':' in its last component, before any digest). */
function hasTag(path: string): boolean {
  const name = path.split('@')[0];
  return name.slice(name.lastIndexOf('/') + 1).includes(':');
}

function validateRepositoryPrefix(prefix: string): void {
  if (Token.isUnresolved(prefix)) {
    return;
  }
  if (prefix.length < 2 || prefix.length > 30 || !REPOSITORY_PREFIX.test(prefix)) {
    throw new Error(
      'DockerHubPullThroughCache: repositoryPrefix must be 2 to 30 characters of lower-case path components ' +
        `([a-z0-9] separated by '.', '_' or '-', joined by '/'), ECR's rule for a cache prefix; got '${prefix}'`,
    );
  }
}

/**
 * ECR's rules for the credential: a name starting with `ecr-pullthroughcache/`, in the rule's account
 * and region. Checked where the values are known at synth time: the name of an imported secret, the
 * `secretName` of a secret defined in the app (one without a name gets a generated one, which never
 * has the prefix), the account and region of an imported secret.
 */
function validateCredential(secret: secretsmanager.ISecret, stack: Stack): void {
  const cfn = secret.node.defaultChild;
  // A secret defined in the app: its CloudFormation name (a token that resolves to nothing without `secretName`).
  const name: unknown = cfn instanceof secretsmanager.CfnSecret ? Stack.of(cfn).resolve(cfn.name) : secret.secretName;
  if (cfn instanceof secretsmanager.CfnSecret && name === undefined) {
    throw new Error(
      `DockerHubPullThroughCache: the credential secret needs a secretName starting with '${CREDENTIAL_NAME_PREFIX}' (ECR's rule); ` +
        'this one gets a generated name',
    );
  }
  if (typeof name === 'string' && !Token.isUnresolved(name) && !name.startsWith(CREDENTIAL_NAME_PREFIX)) {
    throw new Error(`DockerHubPullThroughCache: the credential secret's name must start with '${CREDENTIAL_NAME_PREFIX}' (ECR's rule); ` +
      `got '${name}'`);
  }
  for (const [what, theirs, ours] of [['account', secret.env.account, stack.account], ['region', secret.env.region, stack.region]]) {
    if (!Token.isUnresolved(theirs) && !Token.isUnresolved(ours) && theirs !== ours) {
      throw new Error(`DockerHubPullThroughCache: the credential secret must be in the rule's ${what} (${ours}), ECR's rule; it is in ${theirs}`);
    }
  }
}
