/**
 * Small formatting helpers for people: ages and sizes.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `less than a minute`, `12 minutes`, `5 hours`, `3 days` (rounded down). */
export function formatAge(ms: number): string {
  if (ms < MINUTE) return 'less than a minute';
  const [n, unit] = ms < HOUR ? [Math.floor(ms / MINUTE), 'minute'] : ms < DAY ? [Math.floor(ms / HOUR), 'hour'] : [Math.floor(ms / DAY), 'day'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Whole days between two instants, rounded down. */
export function ageInDays(then: Date, now: Date): number {
  return Math.floor((now.getTime() - then.getTime()) / DAY);
}

/** `812 B`, `3.4 KiB`, `512.0 MiB`, `1.2 GiB` */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${value} B` : `${value.toFixed(1)} ${units[i]}`;
}

/** `5 hours ago` */
export function formatAgo(then: Date | undefined, now: Date): string {
  return then ? `${formatAge(now.getTime() - then.getTime())} ago` : 'at an unknown time';
}

/** `2025-06-01T10:00:00Z (5 hours ago)` */
export function formatPushed(pushedAt: Date | undefined, now: Date): string {
  if (!pushedAt) return 'unknown';
  return `${pushedAt.toISOString().replace(/\.\d{3}Z$/, 'Z')} (${formatAge(now.getTime() - pushedAt.getTime())} ago)`;
}
