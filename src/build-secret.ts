import {
  aws_codebuild as codebuild,
  aws_iam as iam,
  aws_secretsmanager as secretsmanager,
  aws_ssm as ssm,
} from 'aws-cdk-lib';

/** Options of {@link BuildSecret.fromSecretsManager}. */
export interface SecretsManagerBuildSecretOptions {
  /**
   * Key of a JSON secret whose value is the build secret.
   *
   * @default - the whole secret string
   */
  readonly jsonField?: string;

  /**
   * Version stage of the secret.
   *
   * @default 'AWSCURRENT'
   */
  readonly versionStage?: string;
}

/**
 * A secret the Dockerfile reads with `RUN --mount=type=secret,id=<id>`. CodeBuild resolves it into
 * an environment variable at build start (and masks it in the build log); the build writes it to a
 * private temporary file and passes that to the builder (`--secret id=<id>,src=<file>`), so the
 * value is on no command line, in no image layer and in no cache.
 *
 * @example
 * // The Dockerfile reads it with: RUN --mount=type=secret,id=npmrc npm ci
 * const npmrc = secretsmanager.Secret.fromSecretNameV2(this, 'Npmrc', 'build/npmrc');
 * new CachedImageBuild(this, 'Api', {
 *   buildSecrets: { npmrc: BuildSecret.fromSecretsManager(npmrc) },
 * });
 */
export class BuildSecret {
  /** A secret in AWS Secrets Manager. The project may read this secret only. */
  public static fromSecretsManager(secret: secretsmanager.ISecret, options: SecretsManagerBuildSecretOptions = {}): BuildSecret {
    const value = `${secret.secretArn}:${options.jsonField ?? ''}:${options.versionStage ?? ''}:`;
    return new BuildSecret(codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value, (grantee) => secret.grantRead(grantee));
  }

  /** A parameter in SSM Parameter Store (a SecureString, typically). The project may read this parameter only. */
  public static fromSsmParameter(parameter: ssm.IParameter): BuildSecret {
    return new BuildSecret(codebuild.BuildEnvironmentVariableType.PARAMETER_STORE, parameter.parameterName,
      (grantee) => parameter.grantRead(grantee));
  }

  private constructor(
    /** @internal */ public readonly _type: codebuild.BuildEnvironmentVariableType,
    /** @internal */ public readonly _value: string,
    /** @internal */ public readonly _grant: (grantee: iam.IGrantable) => iam.Grant,
  ) {}
}
