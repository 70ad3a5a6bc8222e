// Add or edit a job: the class picker, a form made from the class's argument docs (or
// raw JSON), the schedule, the options, and a live preview of the next fire times.
// Every 400 of the API names its field; the message is shown beside that field.

import { h, mount, notify, debounce } from './dom.js';
import { api, get, seg, can, session } from './api.js';
import { schedule } from './words.js';

const CRON_FIELDS = ['minute', 'hour', 'day', 'month', 'day_of_week', 'second'];
const CRON_LABELS = { minute: 'Minute', hour: 'Hour', day: 'Day of month', month: 'Month', day_of_week: 'Day of week (mon = 0)', second: 'Second (optional)' };
// Options with a field of their own; the rest are edited as one JSON object.
const NUMBER_OPTIONS = ['timeout_seconds', 'max_instances', 'memory_limit_mb'];
const OPTION_LABELS = { timeout_seconds: 'Time limit (s)', max_instances: 'Max instances', memory_limit_mb: 'Memory limit (MiB)' };
// Keys of a job's JSON that are not options.
const NOT_OPTIONS = new Set(['job_id', 'name', 'next_run_time', 'job_class_string', 'pub_args', 'trigger', 'trigger_params', 'second', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'state', 'error']);
const MANAGED = new Set(['timezone', 'start_date', 'end_date', 'concurrency_policy', 'retries', ...NUMBER_OPTIONS]);
const OTHER = ['jitter_seconds', 'misfire_grace_seconds', 'coalesce', 'fuel', 'allowed_hosts', 'http_limits', 'secrets', 'env'];

/**
 * The form field an API message is about: the earliest field name it mentions. Names
 * that only say where (trigger_params) count when nothing more precise is there.
 */
export function fieldOf(message) {
  const unknown = /^unknown key '([^']+)'( in trigger_params)?/.exec(message);
  if (unknown) return unknown[2] ? 'trigger' : (FIELD_IDS.has(unknown[1]) ? unknown[1] : 'other');
  if (message.startsWith('Require at least one of following parameters')) return 'minute';
  let best = null;
  const consider = (re, field) => {
    const m = re.exec(message);
    if (m && (best === null || m.index < best.index)) best = { index: m.index, field };
  };
  consider(/job_class_string|job class/, 'job_class_string');
  consider(/'name'/, 'name');
  consider(/\bpub_args\b/, 'pub_args');
  for (const f of [...CRON_FIELDS, 'interval', 'run_date', 'timezone', 'start_date', 'end_date', 'concurrency_policy', 'retries', ...NUMBER_OPTIONS]) {
    consider(new RegExp(`\\b${f}\\b`), f);
  }
  for (const f of OTHER) consider(new RegExp(`\\b${f}\\b`), 'other');
  if (best) return best.field;
  if (/trigger/.test(message)) return 'trigger';
  return 'form';
}

const FIELD_IDS = new Set(['name', 'job_class_string', 'pub_args', 'trigger', ...CRON_FIELDS, 'interval', 'run_date', 'timezone', 'start_date', 'end_date', 'concurrency_policy', 'retries', ...NUMBER_OPTIONS, 'other']);

function parseJson(text) {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: e.message };
  }
}

/** The kind of input a value needs: one that gives it back unchanged. */
function kindOfValue(value) {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  return 'json';
}

/**
 * An input's kind from an argument's documented type; a value of another kind (a number
 * where the docs say string) gets an input of its own kind, so that it is not changed.
 */
function kindOf(type, value) {
  const t = String(type ?? '').toLowerCase();
  let kind = 'json';
  if (!t) return kindOfValue(value);
  if (/^(number|integer|int|float|u?\d+|f\d+)$/.test(t)) kind = 'number';
  else if (/^bool(ean)?$/.test(t)) kind = 'boolean';
  else if (/^(string|str|text)$/.test(t)) kind = 'string';
  if (value !== undefined && value !== null && kind !== 'json' && kindOfValue(value) !== kind) return kindOfValue(value);
  return kind;
}

export async function render(view, jobId) {
  if (!can('jobs')) {
    mount(view, h('h1', {}, jobId ? 'Edit a job' : 'Add a job'),
      h('p', { class: 'error', role: 'alert' }, `The ${session.role} role may read jobs but not change them.`));
    return;
  }
  const [{ job_classes: classes }, job] = await Promise.all([
    get('/job-classes'),
    jobId ? get(`/jobs/${seg(jobId)}`) : Promise.resolve(null),
  ]);
  const errors = {};
  const errorOf = (key) => (errors[key] ??= h('p', { id: `err-${key}`, class: 'field-error', role: 'alert' }));
  const field = (key, label, input, hint) => {
    input.id = `f-${key}`;
    input.setAttribute('aria-describedby', `err-${key}${hint ? ` hint-${key}` : ''}`);
    return h('div', { class: 'field', 'data-field': key },
      h('label', { for: input.id }, label), input,
      hint ? h('p', { id: `hint-${key}`, class: 'hint' }, hint) : null, errorOf(key));
  };
  const clearErrors = () => Object.values(errors).forEach((e) => { e.textContent = ''; });
  const showError = (message) => {
    const key = fieldOf(message);
    errorOf(FIELD_IDS.has(key) ? key : 'form').textContent = message;
    return key;
  };

  // --- The job and its class.
  const name = h('input', { type: 'text', value: job?.name ?? '', required: true, maxlength: 200 });
  const known = classes.map((c) => c.job_class_string);
  const classSelect = h('select', {},
    (job && !known.includes(job.job_class_string)) ? h('option', { value: job.job_class_string }, `${job.job_class_string} (not installed)`) : null,
    classes.map((c) => h('option', { value: c.job_class_string, selected: c.job_class_string === job?.job_class_string }, c.job_class_string)));
  if (classes.length === 0 && !job) {
    mount(view, h('h1', {}, 'Add a job'), h('p', { class: 'empty' }, 'No job class is installed: ', h('a', { href: '#/plugins' }, 'upload a plugin'), ' first.'));
    return;
  }
  const notes = h('div', { class: 'notes' });
  const classOf = () => classes.find((c) => c.job_class_string === classSelect.value);

  // --- Arguments: a form from the class's docs, or raw JSON.
  const argsBox = h('div', { class: 'args' });
  const raw = h('textarea', { rows: 6, spellcheck: 'false', class: 'code' });
  let argInputs = [];
  let argShape = 'array';
  let rawMode = false;
  const buildArgFields = (value) => {
    const cls = classOf();
    const docs = cls?.arguments ?? [];
    argShape = Array.isArray(value) ? 'array' : 'object';
    const slots = argShape === 'array'
      ? Array.from({ length: Math.max(docs.length, value.length) }, (_, i) => ({ key: i, doc: docs[i], value: value[i] }))
      : [...new Set([...docs.map((d) => d.name), ...Object.keys(value)])].map((k) => ({ key: k, doc: docs.find((d) => d.name === k), value: value[k] }));
    argInputs = slots.map(({ key, doc, value: v }, i) => {
      const kind = kindOf(doc?.type, v);
      const id = `arg-${i}`;
      let input;
      if (kind === 'boolean') input = h('input', { type: 'checkbox', id, checked: v === true });
      else if (kind === 'number') input = h('input', { type: 'number', step: 'any', id, value: v ?? '' });
      else if (kind === 'string') input = h('input', { type: 'text', id, value: v ?? '' });
      else input = h('textarea', { id, rows: 2, class: 'code', spellcheck: 'false' }, v === undefined ? '' : JSON.stringify(v));
      const label = doc?.name ?? (argShape === 'array' ? `argument ${i + 1}` : key);
      const err = h('p', { class: 'field-error', id: `${id}-err` });
      input.setAttribute('aria-describedby', `${id}-err ${id}-hint`);
      return {
        key, kind, input, err,
        node: h('div', { class: 'field' },
          h('label', { for: id }, label, doc?.type ? h('span', { class: 'muted' }, ` (${doc.type})`) : null),
          input,
          doc?.description ? h('p', { class: 'hint', id: `${id}-hint` }, doc.description) : null, err),
      };
    });
    mount(argsBox, argInputs.length ? argInputs.map((a) => a.node)
      : h('p', { class: 'muted' }, 'This class documents no arguments: use raw JSON to give some.'));
  };
  /** The arguments as the form holds them; throws a message naming a bad field. */
  const readArgs = () => {
    if (rawMode) {
      const parsed = parseJson(raw.value.trim() || '[]');
      if (parsed.error) throw new Error(`'pub_args' is not valid JSON: ${parsed.error}`);
      return parsed.value;
    }
    const out = argShape === 'array' ? [] : {};
    let bad = null;
    for (const a of argInputs) {
      a.err.textContent = '';
      let v;
      if (a.kind === 'boolean') v = a.input.checked;
      else if (a.kind === 'number') v = a.input.value === '' ? undefined : Number(a.input.value);
      else if (a.kind === 'string') v = a.input.value;
      else if (a.input.value.trim() === '') v = undefined;
      else {
        const parsed = parseJson(a.input.value);
        if (parsed.error) { a.err.textContent = `not valid JSON: ${parsed.error}`; bad ??= a; continue; }
        v = parsed.value;
      }
      if (argShape === 'array') out.push(v === undefined ? null : v);
      else if (v !== undefined) out[a.key] = v;
    }
    if (bad) throw Object.assign(new Error(`'pub_args': argument ${bad.key} is not valid JSON`), { input: bad.input });
    return out;
  };
  const exampleOf = (cls) => {
    const parsed = parseJson(cls?.example_arguments ?? '');
    const v = parsed.value;
    return (Array.isArray(v) || (v && typeof v === 'object')) ? v : (cls?.arguments?.length ? {} : []);
  };
  const modeForm = h('input', { type: 'radio', name: 'args-mode', id: 'args-form', value: 'form', checked: true });
  const modeRaw = h('input', { type: 'radio', name: 'args-mode', id: 'args-raw', value: 'raw' });
  const rawBox = h('div', { class: 'field', hidden: true }, h('label', { for: 'f-pub_args' }, 'Arguments as JSON (an array or an object)'), raw);
  raw.id = 'f-pub_args';
  const setMode = (toRaw) => {
    errorOf('pub_args').textContent = '';
    if (toRaw && !rawMode) {
      try { raw.value = JSON.stringify(readArgs(), null, 2); } catch (e) { errorOf('pub_args').textContent = e.message; modeForm.checked = true; return; }
    } else if (!toRaw && rawMode) {
      const parsed = parseJson(raw.value || '[]');
      if (parsed.error || typeof parsed.value !== 'object' || parsed.value === null) {
        errorOf('pub_args').textContent = `'pub_args' must be a JSON array or object: ${parsed.error ?? 'fix it before going back to the form'}`;
        modeRaw.checked = true;
        return;
      }
      buildArgFields(parsed.value);
    }
    rawMode = toRaw;
    rawBox.hidden = !toRaw;
    argsBox.hidden = toRaw;
  };
  modeForm.addEventListener('change', () => setMode(false));
  modeRaw.addEventListener('change', () => setMode(true));
  const showClass = (args) => {
    const cls = classOf();
    mount(notes, cls?.notes ? h('p', { class: 'hint' }, cls.notes) : null);
    const value = args ?? exampleOf(cls);
    raw.value = JSON.stringify(value, null, 2);
    buildArgFields(value);
  };
  classSelect.addEventListener('change', () => { showClass(null); refresh(); });
  showClass(job ? job.pub_args : null);

  // --- The schedule.
  const trigger = job?.trigger ?? 'cron';
  const kinds = ['cron', 'interval', 'date'].map((k) => h('input', { type: 'radio', name: 'trigger', id: `trigger-${k}`, value: k, checked: k === trigger }));
  const tp = job?.trigger_params ?? {};
  const cronInputs = Object.fromEntries(CRON_FIELDS.map((f) => [f, h('input', {
    type: 'text', class: 'short', spellcheck: 'false',
    value: job ? (tp[f] ?? '') : ({ minute: '*/5', second: '' }[f] ?? '*'),
  })]));
  const interval = h('input', { type: 'number', min: 1, step: 1, value: tp.interval ?? 300 });
  const runDate = h('input', { type: 'text', placeholder: '2027-01-01T12:00:00Z or 2027-01-01 12:00', value: tp.run_date ?? '' });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const timezone = h('input', { type: 'text', list: 'zones', placeholder: 'UTC', value: job?.timezone ?? '' });
  const cronBox = h('div', { class: 'grid' }, CRON_FIELDS.map((f) => field(f, CRON_LABELS[f], cronInputs[f])));
  const intervalBox = h('div', {}, field('interval', 'Every (seconds)', interval));
  const dateBox = h('div', {}, field('run_date', 'Run once at', runDate, 'RFC 3339 with an offset, or a local date-time read in the time zone below.'));
  const showTrigger = () => {
    const k = kinds.find((r) => r.checked).value;
    cronBox.hidden = k !== 'cron';
    intervalBox.hidden = k !== 'interval';
    dateBox.hidden = k !== 'date';
  };
  kinds.forEach((r) => r.addEventListener('change', () => { showTrigger(); refresh(); }));
  showTrigger();

  // --- Options.
  const numbers = Object.fromEntries(NUMBER_OPTIONS.map((k) => [k, h('input', { type: 'number', min: 1, step: 1, value: job?.[k] ?? '' })]));
  const policy = h('select', {}, ['', 'allow', 'forbid', 'replace'].map((p) => h('option', { value: p, selected: p === (job?.concurrency_policy ?? '') }, p || 'server default (allow)')));
  const startDate = h('input', { type: 'text', value: job?.start_date ?? '' });
  const endDate = h('input', { type: 'text', value: job?.end_date ?? '' });
  const retries = job?.retries ?? {};
  const retryMax = h('input', { type: 'number', min: 0, max: 100, step: 1, value: retries.max ?? '' });
  const retryBackoff = h('input', { type: 'number', min: 0, step: 'any', value: retries.backoff_seconds ?? '' });
  const retryFactor = h('input', { type: 'number', min: 1, step: 'any', value: retries.backoff_factor ?? '' });
  const others = {};
  for (const [k, v] of Object.entries(job ?? {})) if (!NOT_OPTIONS.has(k) && !MANAGED.has(k)) others[k] = v;
  const other = h('textarea', { rows: 3, class: 'code', spellcheck: 'false', placeholder: '{"jitter_seconds": 30, "allowed_hosts": ["https://api.example.com"]}' },
    Object.keys(others).length ? JSON.stringify(others, null, 2) : '');

  /** The job body the form describes; throws a message naming a bad field. */
  const body = () => {
    const out = { name: name.value, job_class_string: classSelect.value, pub_args: readArgs() };
    const k = kinds.find((r) => r.checked).value;
    out.trigger = k;
    if (k === 'cron') {
      out.trigger_params = {};
      for (const f of CRON_FIELDS) if (cronInputs[f].value.trim() !== '') out.trigger_params[f] = cronInputs[f].value.trim();
    } else if (k === 'interval') {
      out.trigger_params = { interval: interval.value === '' ? '' : Number(interval.value) };
    } else {
      out.trigger_params = { run_date: runDate.value.trim() };
    }
    if (timezone.value.trim()) out.timezone = timezone.value.trim();
    if (startDate.value.trim()) out.start_date = startDate.value.trim();
    if (endDate.value.trim()) out.end_date = endDate.value.trim();
    for (const key of NUMBER_OPTIONS) if (numbers[key].value !== '') out[key] = Number(numbers[key].value);
    if (policy.value) out.concurrency_policy = policy.value;
    if (retryMax.value !== '') {
      out.retries = { max: Number(retryMax.value) };
      if (retryBackoff.value !== '') out.retries.backoff_seconds = Number(retryBackoff.value);
      if (retryFactor.value !== '') out.retries.backoff_factor = Number(retryFactor.value);
    }
    if (other.value.trim()) {
      const parsed = parseJson(other.value);
      if (parsed.error || typeof parsed.value !== 'object' || Array.isArray(parsed.value) || parsed.value === null) {
        throw new Error(`other options (fuel, allowed_hosts …) must be a JSON object: ${parsed.error ?? 'got something else'}`);
      }
      Object.assign(out, parsed.value);
    }
    return out;
  };

  // --- The live preview of the next fire times.
  const preview = h('div', { id: 'preview', 'aria-live': 'polite' });
  const words = h('p', { id: 'schedule-words', class: 'muted' });
  let previewSeq = 0;
  const refresh = debounce(async () => {
    const seq = ++previewSeq;
    let b;
    try {
      b = body();
    } catch (e) {
      clearErrors();
      showError(e.message);
      return;
    }
    b.name ||= 'preview';
    try {
      const answer = await api('POST', '/next-runs?count=5', b);
      if (seq !== previewSeq) return;
      clearErrors();
      words.textContent = schedule({ ...b, timezone: b.timezone });
      mount(preview, answer.next_runs.length === 0
        ? h('p', { class: 'muted' }, 'This schedule has no fire left.')
        : h('ol', { class: 'times' }, answer.next_runs.map((r) => h('li', {},
          h('time', { datetime: r.utc }, r.local.replace('T', ' ')), ` ${answer.timezone}`))));
    } catch (e) {
      if (seq !== previewSeq) return;
      clearErrors();
      words.textContent = '';
      showError(e.message);
      mount(preview, h('p', { class: 'muted' }, 'No preview until the schedule is valid.'));
    }
  }, 300);

  // --- Saving.
  const save = h('button', { type: 'submit', class: 'primary' }, job ? 'Save changes' : 'Create job');
  const form = h('form', {
    class: 'job-form', novalidate: true, oninput: refresh, onchange: refresh,
    onsubmit: async (event) => {
      event.preventDefault();
      clearErrors();
      let b;
      try {
        b = body();
      } catch (e) {
        const key = showError(e.message);
        (e.input ?? form.querySelector(`#f-${key}`))?.focus();
        return;
      }
      save.disabled = true;
      try {
        const answer = job ? await api('PUT', `/jobs/${seg(job.job_id)}`, b) : await api('POST', '/jobs', b);
        notify(job ? `Saved ${b.name}.` : `Created ${b.name}.`);
        location.hash = `#/jobs/${answer.job_id}`;
      } catch (e) {
        const key = showError(e.message);
        if (e.status !== 400) notify(e.message, 'error');
        form.querySelector(`#f-${key}`)?.focus();
      } finally {
        save.disabled = false;
      }
    },
  },
  h('fieldset', {}, h('legend', {}, 'Job'),
    field('name', 'Name', name),
    field('job_class_string', 'Class', classSelect), notes),
  h('fieldset', {}, h('legend', {}, 'Arguments'),
    h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'How to edit the arguments' },
      modeForm, h('label', { for: 'args-form' }, 'Form'), modeRaw, h('label', { for: 'args-raw' }, 'Raw JSON')),
    argsBox, rawBox, errorOf('pub_args')),
  h('fieldset', {}, h('legend', {}, 'Schedule'),
    h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Kind of schedule' },
      kinds.map((r) => [r, h('label', { for: r.id }, { cron: 'Cron fields', interval: 'Interval', date: 'Once, at a date' }[r.value])])),
    errorOf('trigger'),
    cronBox, intervalBox, dateBox,
    field('timezone', 'Time zone', timezone, 'An IANA name such as Europe/Berlin; UTC when empty.'),
    h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z })))),
  h('details', { open: Object.keys(job ?? {}).some((k) => MANAGED.has(k) || k in others) },
    h('summary', {}, 'Options'),
    h('div', { class: 'grid' },
      NUMBER_OPTIONS.map((k) => field(k, OPTION_LABELS[k], numbers[k])),
      field('concurrency_policy', 'When a run is still going', policy),
      field('start_date', 'Start date', startDate),
      field('end_date', 'End date', endDate),
      field('retries', 'Retries', retryMax),
      h('div', { class: 'field' }, h('label', { for: 'f-retry-backoff' }, 'Retry backoff (s)'), Object.assign(retryBackoff, { id: 'f-retry-backoff' })),
      h('div', { class: 'field' }, h('label', { for: 'f-retry-factor' }, 'Backoff factor'), Object.assign(retryFactor, { id: 'f-retry-factor' }))),
    field('other', 'Other options (JSON object: jitter_seconds, misfire_grace_seconds, coalesce, fuel, allowed_hosts, http_limits, secrets, env)', other)),
  h('section', { class: 'card preview', 'aria-labelledby': 'preview-title' },
    h('h2', { id: 'preview-title' }, 'Next fire times'), words, preview),
  errorOf('form'),
  h('div', { class: 'actions' },
    h('a', { class: 'button', href: job ? `#/jobs/${job.job_id}` : '#/jobs' }, 'Cancel'), save));
  mount(view, h('h1', {}, job ? `Edit ${job.name}` : 'Add a job'), form);
  refresh();
  name.focus();
}
