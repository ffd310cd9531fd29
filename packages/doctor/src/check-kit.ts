/**
 * What every check is made of: a call's outcome, the context, and the result constructors.
 */
import type { DoctorOptions } from './args';
import { CallProblem } from './aws-errors';
import type { EcrReader } from './checks';
import { CheckResult } from './report';

/** A call's result: the value, or why the call failed (errors that end the run are thrown). */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: CallProblem };

/** What every check knows about the setup. */
export interface Context {
  readonly options: DoctorOptions;
  readonly now: Date;
  readonly ecr: EcrReader;
}

export function result(id: string, title: string, fields: Omit<CheckResult, 'id' | 'title' | 'details'> & { details?: string[] }): CheckResult {
  return { id, title, ...fields, details: fields.details ?? [] };
}

export function callError(id: string, title: string, problem: CallProblem): CheckResult {
  return result(id, title, {
    status: 'error',
    summary: `could not check: ${problem.message}`,
    fix: problem.kind === 'access-denied'
      ? `allow ${problem.action} for the caller (the doctor needs ecr:DescribeRepositories, ecr:GetLifecyclePolicy, ecr:DescribeImages and ecr:BatchGetImage on both repositories)`
      : undefined,
  });
}

