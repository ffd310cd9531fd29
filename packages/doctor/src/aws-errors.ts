/**
 * Turns errors of AWS SDK calls into messages a person can act on, and tells which ones end the
 * whole run (no credentials, no region, ECR unreachable) from the ones that only stop one check.
 */

/** An error after which no check can run: the doctor stops with exit code 2. */
export class DoctorAbort extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DoctorAbort';
  }
}

/** What went wrong with one ECR call that does not end the run. */
export interface CallProblem {
  /** `access-denied`, `throttled` or `other`. */
  readonly kind: 'access-denied' | 'throttled' | 'other';
  /** The IAM action that was refused or failed, e.g. `ecr:GetLifecyclePolicy`. */
  readonly action: string;
  readonly message: string;
}

interface SdkErrorShape {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly $metadata?: { readonly attempts?: number; readonly totalRetryDelay?: number; readonly httpStatusCode?: number };
}

export const CREDENTIALS_HELP =
  'Configure credentials for the account that holds the repositories: set AWS_PROFILE to a profile ' +
  '(`aws configure`, or `aws sso login --profile NAME`) or pass --profile NAME, or export AWS_ACCESS_KEY_ID and ' +
  'AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or run where a role is attached (CodeBuild, EC2, ECS, Lambda).';

const CREDENTIAL_ERRORS = new Set(['CredentialsProviderError', 'TokenProviderError']);
const BAD_TOKEN_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'ExpiredToken',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
]);
const THROTTLING_ERRORS = new Set(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'Throttling']);
const NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Classifies an error thrown by `client.send()` of the ECR command behind `action`.
 * Throws a {@link DoctorAbort} for errors that end the run; returns a {@link CallProblem} otherwise.
 */
export function classifyCallError(error: unknown, action: string, region: string): CallProblem {
  const e = (error ?? {}) as SdkErrorShape;
  const name = e.name ?? '';
  const message = e.message ?? String(error);
  if (CREDENTIAL_ERRORS.has(name)) {
    throw new DoctorAbort(`No AWS credentials could be loaded (${message}). ${CREDENTIALS_HELP}`);
  }
  if (BAD_TOKEN_ERRORS.has(name)) {
    throw new DoctorAbort(`AWS rejected the credentials (${name}: ${message}). They are invalid or expired. ${CREDENTIALS_HELP}`);
  }
  if (message === 'Region is missing') {
    throw new DoctorAbort('No AWS region: pass --region REGION, or set AWS_REGION (or a region in your AWS profile).');
  }
  if ((e.code && NETWORK_CODES.has(e.code)) || name === 'TimeoutError') {
    throw new DoctorAbort(
      `Could not reach the ECR endpoint of region ${region} (${e.code ?? name}: ${message}). Check --region and the network.`,
    );
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    const refused = /perform: (ecr:[A-Za-z]+)/.exec(message)?.[1] ?? action;
    return {
      kind: 'access-denied',
      action: refused,
      message: `access denied: the caller is not allowed ${refused} (${message}). Grant ${refused} on the repository to run this check.`,
    };
  }
  if (THROTTLING_ERRORS.has(name) || e.$metadata?.httpStatusCode === 429) {
    const attempts = e.$metadata?.attempts;
    const tries = attempts ? ` after ${attempts} attempt${attempts === 1 ? '' : 's'}` : '';
    return {
      kind: 'throttled',
      action,
      message: `ECR throttled ${action}${tries} (${name}: ${message}). Try again later, or allow more retries with --max-attempts.`,
    };
  }
  return { kind: 'other', action, message: `${action} failed: ${name ? `${name}: ` : ''}${message}` };
}
