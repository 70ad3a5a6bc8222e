// The human words for what the API gives as JSON: a job's schedule ("every 5 minutes",
// "at 03:00 Europe/Berlin"), times, durations and sizes. The same rules as the CLI's
// (host/src/client/words.rs), plus daily and hourly times in words.

/** A job's schedule in words, from its trigger, trigger_params and timezone. */
export function schedule(job) {
  const params = job.trigger_params ?? {};
  switch (job.trigger) {
    case 'interval': {
      const seconds = wholeNumber(params.interval);
      return seconds === null ? `interval ${JSON.stringify(params.interval)}` : every(seconds);
    }
    case 'date':
      return `once at ${time(params.run_date ?? '')}`;
    case 'cron':
      return cron(params, job.timezone);
    default:
      return String(job.trigger);
  }
}

const NUMBER = /^\d{1,2}$/;

function cron(params, zone) {
  const field = (name) => (typeof params[name] === 'string' ? params[name] : '*');
  const second = typeof params.second === 'string' ? params.second : null;
  const dateAny = field('day') === '*' && field('month') === '*';
  const rest = dateAny && field('day_of_week') === '*';
  if (rest && field('hour') === '*') {
    if (second === null) {
      const n = step(field('minute'));
      if (n !== null) return every(n * 60);
      if (NUMBER.test(field('minute'))) return `every hour at minute ${Number(field('minute'))}`;
    } else if (field('minute') === '*') {
      const n = step(second);
      if (n !== null) return every(n);
    }
  }
  // A fixed time of day: "at 03:00 Europe/Berlin", "at 09:30 on mon-fri UTC".
  if (dateAny && second === null && NUMBER.test(field('hour')) && NUMBER.test(field('minute'))) {
    const at = `${field('hour').padStart(2, '0')}:${field('minute').padStart(2, '0')}`;
    const days = field('day_of_week') === '*' ? '' : ` on ${field('day_of_week')}`;
    return `at ${at}${days} ${zone ?? 'UTC'}`;
  }
  let words = `cron ${field('minute')} ${field('hour')} ${field('day')} ${field('month')} ${field('day_of_week')}`;
  if (second !== null) words += ` second ${second}`;
  if (zone) words += ` ${zone}`;
  return words;
}

/** `*` as 1, `*\/n` as n, anything else null. */
function step(field) {
  if (field === '*') return 1;
  const m = /^\*\/(\d+)$/.exec(field);
  return m && Number(m[1]) > 0 ? Number(m[1]) : null;
}

/** "every 5 minutes", "every hour", "every 90 seconds". */
export function every(seconds) {
  if (seconds === 0) return 'every 0 seconds';
  let n = seconds;
  let unit = 'second';
  if (seconds % 86400 === 0) [n, unit] = [seconds / 86400, 'day'];
  else if (seconds % 3600 === 0) [n, unit] = [seconds / 3600, 'hour'];
  else if (seconds % 60 === 0) [n, unit] = [seconds / 60, 'minute'];
  return n === 1 ? `every ${unit}` : `every ${n} ${unit}s`;
}

function wholeNumber(v) {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** An RFC 3339 time as "2026-11-30 12:00:00" in UTC; "-" for none. */
export function time(rfc3339) {
  if (!rfc3339) return '-';
  const t = new Date(rfc3339);
  if (Number.isNaN(t.getTime())) return rfc3339;
  return t.toISOString().slice(0, 19).replace('T', ' ');
}

/** time() followed by " UTC" when there is a time. */
export function timeUtc(rfc3339) {
  const t = time(rfc3339);
  return t === '-' ? t : `${t} UTC`;
}

/** A duration in milliseconds as "0.043 ms", "12.3 ms", "1.52 s", "2 min 3 s". */
export function duration(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A size in bytes as "512 B", "192 KiB", "1.5 MiB". */
export function bytes(n) {
  if (n === null || n === undefined) return '-';
  const k = 1024;
  if (n < k) return `${n} B`;
  if (n < k * k) return `${(n / k).toFixed(0)} KiB`;
  if (n < k * k * k) return `${(n / (k * k)).toFixed(1)} MiB`;
  return `${(n / (k * k * k)).toFixed(1)} GiB`;
}

/** A local date-time input's value ("2026-11-30T14:05") as RFC 3339 UTC; "" stays "". */
export function fromLocalInput(value) {
  if (!value) return '';
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? value : t.toISOString();
}

/** A Date as a local date-time input's value. */
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Execution states that are over. */
export const FINAL_STATES = new Set(['succeeded', 'failed', 'timeout', 'stopped', 'scheduled error', 'skipped', 'missed']);

export const EXECUTION_STATES = ['scheduled', 'running', 'stopping', 'stopped', 'failed', 'succeeded', 'timeout', 'scheduled error', 'skipped', 'missed'];
