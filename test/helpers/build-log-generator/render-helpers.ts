/** What both renderers use: a deterministic PRNG, instruction texts, output lines, the printer's seconds. */
import { Instruction } from './shapes';

// ------------------------------------------------------------------ helpers

/** Park-Miller minimal standard PRNG: deterministic, so a shape always renders the same log. */
export function prng(seed: number): () => number {
  let a = (seed % 2147483646) + 1;
  return () => {
    a = (a * 16807) % 2147483647;
    return (a - 1) / 2147483646;
  };
}

export type Rand = () => number;
export const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
export const int = (rand: Rand, min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
export function hex(rand: Rand, n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(rand() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

/** Instruction texts, some made to look like what the counters read (labels, FROM, statuses). */
export const TEXTS: Record<string, string[]> = {
  RUN: [
    'echo "step ran-$((6*7))" && sleep 1',
    'echo "[1/2] FROM busybox" > /from.txt',
    'echo "] FROM " && true',
    '--mount=type=cache,target=/root/.cache make deps',
    '--mount=type=secret,id=token test -s /run/secrets/token',
    'printf "#3 CACHED\\n" > /fake',
    'cat requirements.txt > /deps.txt',
    'echo "STEP 1/2: RUN x" && echo "--> Using cache 0123"',
  ],
  COPY: ['requirements.txt .', 'app.txt /app/app.txt', '--from=build /out /out', '--link . .', '--chown=1000:1000 src/ /src/'],
  ADD: ['https://example.com/tool.tar.gz /opt/', 'vendor.tar.gz /vendor', 'git@github.com:org/repo.git /repo'],
  WORKDIR: ['/app', '/src', '/work/[x]'],
  ENV: ['A=1', 'PATH=/bin'],
  LABEL: ['org.opencontainers.image.title=app'],
  ARG: ['VERSION=1'],
  EXPOSE: ['8080'],
  USER: ['1000'],
  CMD: ['["cat", "/app/app.txt"]'],
  ENTRYPOINT: ['["/bin/sh"]'],
  VOLUME: ['/data'],
  STOPSIGNAL: ['SIGTERM'],
  ONBUILD: ['RUN echo trigger'],
};

export function text(i: Instruction): string {
  if (i.kind === 'WORKDIR' && i.root) return 'WORKDIR /';
  const texts = TEXTS[i.kind];
  return `${i.kind} ${texts[i.text % texts.length]}`;
}

/** Output lines a RUN may print; BuildKit prefixes them with the vertex and a time. */
export const OUTPUT = ['step ran-42', 'CACHED', 'DONE 0.1s', '...', 'sha256:' + '0'.repeat(64), 'extracting sha256:' + 'f'.repeat(64), '#4 CACHED', 'compiling 3 files', 'WARN: from the program'];

/** Seconds as the printer shows them: 3 decimals below 10 s, 2 below 100 s, 1 above. */
export function seconds(rand: Rand): string {
  const s = rand() < 0.8 ? rand() * 10 : rand() * 200;
  return s.toFixed(s < 10 ? 3 : s < 100 ? 2 : 1);
}

export function digits(n: number): number {
  return Math.floor(1 + Math.log10(n));
}
