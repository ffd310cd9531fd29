/** The harness's checks: each printed as it is made, all summed up at the end (any failure fails the e2e). */

export const checks: { name: string; ok: boolean; detail: string }[] = [];
export function check(name: string, ok: boolean, detail = ''): boolean {
  checks.push({ name, ok, detail });
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}
