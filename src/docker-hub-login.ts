import { Token, aws_codebuild as codebuild, aws_iam as iam, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { DOCKER_HUB_PASSWORD_VARIABLE, DOCKER_HUB_USERNAME_VARIABLE } from './script/docker-hub-login';

/** A JSON key of a secret, as CodeBuild's `secrets-manager` reference takes it: no ':' (its separator). */
const JSON_KEY = /^[^:\s]{1,256}$/;

/** Options of {@link DockerHubLogin.fromSecretsManager}. */
export interface DockerHubLoginOptions {
  /**
   * JSON key of the secret that holds the Docker Hub user name.
   *
   * @default 'username'
   */
  readonly usernameField?: string;

  /**
   * JSON key of the secret that holds the password or, better, a Docker Hub personal access token
   * (read-only public repositories is enough for pulls). Pass `'accessToken'` to reuse the
   * credential secret of an ECR pull-through cache rule.
   *
   * @default 'password'
   */
  readonly passwordField?: string;
}

/**
 * A Docker Hub login before the build starts its builder: pulls of the BuildKit image and of the
 * Dockerfile's Docker Hub images (`FROM`, `COPY --from`) are then authenticated, and count against
 * the account's pull limit instead of the anonymous limit of the build host's shared IP address.
 */
export class DockerHubLogin {
  /**
   * The Docker Hub user name and password (or access token) from a JSON secret in Secrets Manager.
   * CodeBuild resolves both into project variables at build start and masks them in the log; the
   * password reaches `docker login` (or `buildah login`) on stdin only. The project may read this
   * secret only, and decrypt it with the secret's KMS key when the `ISecret` has one (for a secret
   * imported by ARN, import it with `Secret.fromSecretAttributes({ secretCompleteArn, encryptionKey })`).
   *
   * @param secret a JSON secret with the user name and the password (or access token)
   * @param options the JSON keys of the user name and the password
   */
  public static fromSecretsManager(secret: secretsmanager.ISecret, options: DockerHubLoginOptions = {}): DockerHubLogin {
    const usernameField = options.usernameField ?? 'username';
    const passwordField = options.passwordField ?? 'password';
    for (const [prop, field] of [['usernameField', usernameField], ['passwordField', passwordField]]) {
      if (!Token.isUnresolved(field) && !JSON_KEY.test(field)) {
        throw new Error(`DockerHubLogin.fromSecretsManager(): ${prop} must be a JSON key of 1 to 256 characters without ':' or spaces; ` +
          `got '${field}'`);
      }
    }
    return new DockerHubLogin(secret, usernameField, passwordField);
  }

  private constructor(
    private readonly secret: secretsmanager.ISecret,
    private readonly usernameField: string,
    private readonly passwordField: string,
  ) {}

  /**
   * The project variables that carry the user name and password (resolved by CodeBuild).
   * @internal
   */
  public _environment(): { [name: string]: codebuild.BuildEnvironmentVariable } {
    const reference = (field: string) => ({
      type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER,
      value: `${this.secret.secretArn}:${field}::`,
    });
    return {
      [DOCKER_HUB_USERNAME_VARIABLE]: reference(this.usernameField),
      [DOCKER_HUB_PASSWORD_VARIABLE]: reference(this.passwordField),
    };
  }

  /**
   * Lets the project read the secret (and decrypt it with its key, when known).
   * @internal
   */
  public _grant(grantee: iam.IGrantable): iam.Grant {
    return this.secret.grantRead(grantee);
  }
}
