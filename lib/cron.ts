/**
 * The cron syntax the CronJob controller accepts. Kubernetes parses `spec.schedule` with
 * robfig/cron v3's standard parser: five fields or one of its `@` descriptors, and the API server
 * rejects a `TZ=`/`CRON_TZ=` prefix (the `timeZone` field replaces it). Checked here so a typo
 * fails at synth instead of at `kubectl apply`.
 */
import { Problem } from './validate';

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

// Bounds of robfig/cron v3: day-of-week is 0-6 only (7 is rejected), names are case-insensitive.
const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/** The descriptors the standard parser knows (`@every <duration>` is handled separately). */
export const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'] as const;

// Go's time.ParseDuration units; robfig rejects a zero or negative interval.
const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;

/** Why a cron expression is invalid, or undefined when the CronJob controller accepts it. */
export function cronError(expr: string): string | undefined {
  if (typeof expr !== 'string') return 'is not a string';
  const s = expr.trim();
  if (s === '') return 'is empty';
  if (/^(CRON_)?TZ=/.test(s)) return 'sets a time zone inside the schedule, which the API server rejects';
  if (s.startsWith('@')) {
    const lower = s.toLowerCase();
    if ((CRON_MACROS as readonly string[]).includes(lower)) return undefined;
    const every = /^@every\s+(\S+)$/.exec(s);
    if (every) {
      return GO_DURATION.test(every[1]) && /[1-9]/.test(every[1]) ? undefined : `has "${every[1]}", which is not a positive Go duration such as "90m"`;
    }
    return `is not a known descriptor (${CRON_MACROS.join(', ')} or @every <duration>)`;
  }
  const parts = s.split(/\s+/);
  if (parts.length !== 5) return `has ${parts.length} field(s); Kubernetes expects 5 (minute hour day-of-month month day-of-week)`;
  for (let i = 0; i < 5; i++) {
    const err = fieldError(parts[i], FIELDS[i]);
    if (err) return `has ${FIELDS[i].name} "${parts[i]}": ${err}`;
  }
  return undefined;
}

function valueOf(token: string, f: Field): number | undefined {
  if (/^\d+$/.test(token)) return Number(token);
  const i = f.names?.indexOf(token.toLowerCase()) ?? -1;
  if (i < 0) return undefined;
  return f.min + i;
}

function fieldError(field: string, f: Field): string | undefined {
  for (const part of field.split(',')) {
    if (part === '') return 'has an empty list entry';
    const [range, step, extra] = part.split('/');
    if (extra !== undefined) return `"${part}" has more than one "/"`;
    if (step !== undefined && !/^\d+$/.test(step)) return `step "${step}" is not a number`;
    if (step !== undefined && Number(step) === 0) return 'a step of 0 is not allowed';
    if (range === '*' || range === '?') continue;
    const ends = range.split('-');
    if (ends.length > 2) return `"${range}" is not a value or a range a-b`;
    const values = ends.map((e) => valueOf(e, f));
    for (let j = 0; j < ends.length; j++) {
      const v = values[j];
      if (v === undefined) {
        return `"${ends[j]}" is not a number${f.names ? ` or a name (${f.names.join(', ')})` : ''}`;
      }
      if (v < f.min || v > f.max) return `${v} is outside ${f.min}-${f.max}`;
    }
    if (values.length === 2 && values[0]! > values[1]!) return `the range ${range} starts after it ends`;
  }
  return undefined;
}

/** Checks a CronJob schedule. */
export function checkCronSchedule(prop: string, value: string): Problem[] {
  const err = cronError(value);
  if (err === undefined) return [];
  const tz = /^(CRON_)?TZ=/.test(String(value).trim());
  return [{
    prop, value, problem: err,
    fix: tz ? 'remove the prefix and set `timeZone` instead' : 'use five fields such as "0 3 * * *" (03:00 daily) or a descriptor such as "@daily"',
  }];
}

/**
 * Checks an IANA time zone name as the API server does (it loads it from its tz database):
 * names this runtime's tz database does not know are rejected, and so is "Local", which means
 * the controller's own zone.
 */
export function checkTimeZone(prop: string, value: string): Problem[] {
  let ok = typeof value === 'string' && value !== '' && value !== 'Local' && !/\s/.test(value);
  let resolved = '';
  if (ok) {
    try {
      resolved = new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
    } catch {
      ok = false;
    }
  }
  if (!ok) return [{ prop, value, problem: 'is not an IANA time zone name', fix: 'use a name such as "Europe/Berlin" or "Etc/UTC"' }];
  // ICU matches names case-insensitively; the API server loads a file of that exact name.
  if (resolved !== value && resolved.toLowerCase() === value.toLowerCase()) {
    return [{ prop, value, problem: `is spelled "${resolved}" in the tz database, and the API server matches names case-sensitively`, fix: `use "${resolved}"` }];
  }
  return [];
}
