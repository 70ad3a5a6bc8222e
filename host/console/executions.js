// Executions: the filtered, paged list (updated live from the events stream) and one
// execution's detail (followed live until it ends, with a cancel button meanwhile).

import { h, mount, table, rowOf, badge, notify, confirmDialog } from './dom.js';
import { api, get, can, seg, query } from './api.js';
import { timeUtc, duration, bytes, fromLocalInput, toLocalInput, FINAL_STATES, EXECUTION_STATES } from './words.js';

const PAGE = 50;
const HEADERS = ['Execution', 'Job', 'State', 'Kind', 'Scheduled', 'Duration'];
// The cursors of the pages before this one, for "Newer": kept while the filters stay.
let pages = { filters: '', cursors: [] };

function cells(e, jobNames) {
  return {
    attrs: { 'data-execution': e.execution_id },
    cells: [
      h('a', { href: `#/executions/${e.execution_id}` }, e.execution_id.slice(0, 12)),
      e.job ? h('a', { href: `#/jobs/${e.job_id}` }, e.job.name) : (jobNames.get(e.job_id) ?? h('span', { class: 'muted' }, `deleted job ${e.job_id.slice(0, 8)}`)),
      badge(e.state),
      e.run_kind + (e.attempt > 1 ? ` #${e.attempt}` : ''),
      timeUtc(e.scheduled_time),
      duration(e.duration_ms),
    ],
  };
}

export async function render(view, params) {
  const jobId = params.get('job_id') ?? '';
  const state = params.get('state') ?? '';
  const start = params.get('start') ?? '';
  const end = params.get('end') ?? '';
  const cursor = params.get('cursor') ?? '';
  const filters = JSON.stringify([jobId, state, start, end]);
  if (pages.filters !== filters || !cursor) pages = { filters, cursors: [] };

  const [{ jobs }, page] = await Promise.all([
    get('/jobs'),
    get(`/executions${query({ job_id: jobId, state, limit: PAGE, cursor, time_range_start: fromLocalInput(start), time_range_end: fromLocalInput(end) })}`),
  ]);
  const jobNames = new Map(jobs.map((j) => [j.job_id, j.name]));
  const jobSelect = h('select', { id: 'x-job', name: 'job_id' }, h('option', { value: '' }, 'any job'),
    jobs.map((j) => h('option', { value: j.job_id, selected: j.job_id === jobId }, j.name)));
  const stateSelect = h('select', { id: 'x-state', name: 'state' }, h('option', { value: '' }, 'any state'),
    EXECUTION_STATES.map((s) => h('option', { value: s, selected: s === state }, s)));
  const startInput = h('input', { id: 'x-start', name: 'start', type: 'datetime-local', value: start });
  const endInput = h('input', { id: 'x-end', name: 'end', type: 'datetime-local', value: end });
  const go = (extra = {}) => {
    const q = new URLSearchParams(query({ job_id: jobSelect.value, state: stateSelect.value, start: startInput.value, end: endInput.value, ...extra }).slice(1));
    location.hash = `#/executions${q.toString() ? `?${q}` : ''}`;
  };
  const tbody = h('tbody', {}, page.executions.map((e) => rowOf(cells(e, jobNames), HEADERS)));
  const live = h('span', { class: 'live', 'aria-live': 'off' });
  mount(view,
    h('div', { class: 'page-head' }, h('h1', {}, 'Executions'), live),
    h('form', {
      class: 'filters', role: 'search', onsubmit: (event) => { event.preventDefault(); go(); },
    },
    h('label', { for: 'x-job' }, 'Job'), jobSelect,
    h('label', { for: 'x-state' }, 'State'), stateSelect,
    h('label', { for: 'x-start' }, 'From'), startInput,
    h('label', { for: 'x-end' }, 'To'), endInput,
    h('button', { type: 'submit' }, 'Apply'),
    h('button', { type: 'button', class: 'link', onclick: () => { location.hash = '#/executions'; } }, 'Clear')),
    page.executions.length === 0 && !cursor ? h('p', { class: 'empty' }, 'No executions match.') : null,
    h('div', { class: 'table-wrap' }, h('table', { id: 'executions-table', class: 'stack' },
      h('caption', { class: 'visually-hidden' }, 'Executions'),
      h('thead', {}, h('tr', {}, HEADERS.map((t) => h('th', { scope: 'col' }, t)))),
      tbody)),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      cursor ? h('button', { type: 'button', onclick: () => go({ cursor: pages.cursors.pop() ?? '' }) }, '← Newer') : null,
      cursor ? h('button', { type: 'button', class: 'link', onclick: () => go() }, 'First page') : null,
      page.next_cursor ? h('button', { type: 'button', onclick: () => { pages.cursors.push(cursor); go({ cursor: page.next_cursor }); } }, 'Older →') : null));

  // Live: rows change in place; new runs appear on the first page.
  const source = new EventSource(`/api/v1/events${query({ job_id: jobId })}`);
  source.onopen = () => { live.textContent = '● live'; };
  source.onerror = () => { live.textContent = ''; };
  source.addEventListener('state', (event) => {
    const e = JSON.parse(event.data);
    const row = tbody.querySelector(`tr[data-execution="${e.execution_id}"]`);
    if (row) row.replaceWith(rowOf(cells(e, jobNames), HEADERS));
    else if (!cursor && !start && !end && (!state || e.state === state)) tbody.prepend(rowOf(cells(e, jobNames), HEADERS));
  });
  return () => source.close();
}

/** A result as the API stores it (JSON text, pretty-printed when it is JSON). */
function pretty(result) {
  if (result === null || result === undefined) return null;
  try {
    return JSON.stringify(JSON.parse(result), null, 2);
  } catch {
    return result;
  }
}

export async function renderOne(view, executionId) {
  let execution = await get(`/executions/${seg(executionId)}`);
  const liveLogs = [];
  const progress = h('div', { id: 'progress', 'aria-live': 'polite' });
  const first = execution.retry_of ?? execution.execution_id;
  let attempts = [];
  const loadAttempts = async () => {
    const all = await get(`/executions${query({ job_id: execution.job_id, limit: 200 })}`);
    attempts = all.executions.filter((e) => e.execution_id === first || e.retry_of === first).sort((a, b) => a.attempt - b.attempt);
  };
  await loadAttempts();
  const body = h('div');
  const draw = () => {
    const e = execution;
    const running = !FINAL_STATES.has(e.state);
    const logs = e.logs?.length ? e.logs : liveLogs;
    const result = pretty(e.result);
    const fact = (label, v) => [h('dt', {}, label), h('dd', {}, v ?? '-')];
    mount(body,
      h('div', { class: 'page-head' },
        h('h1', {}, 'Execution ', h('code', {}, e.execution_id.slice(0, 12)), ' ', h('span', { id: 'execution-state' }, badge(e.state))),
        running && can('jobs') ? h('button', {
          type: 'button', class: 'danger', id: 'cancel', onclick: async () => {
            if (!await confirmDialog('Cancel this run? The guest is interrupted; a cancelled run is not retried.', 'Cancel run')) return;
            try {
              await api('DELETE', `/executions/${seg(e.execution_id)}`);
              notify('Cancelling the run…');
            } catch (err) { notify(err.message, 'error'); }
          },
        }, 'Cancel run') : null),
      running ? progress : null,
      h('div', { class: 'columns' },
        h('section', { class: 'card', 'aria-labelledby': 'facts-title' },
          h('h2', { id: 'facts-title' }, 'Run'),
          h('dl', { class: 'settings' },
            fact('Job', e.job ? h('a', { href: `#/jobs/${e.job_id}` }, e.job.name) : `${e.job_id} (deleted)`),
            fact('Class', e.job ? h('code', {}, e.job.job_class_string) : null),
            fact('Kind', e.run_kind),
            fact('Attempt', String(e.attempt)),
            e.retry_of ? fact('Retry of', h('a', { href: `#/executions/${e.retry_of}` }, e.retry_of.slice(0, 12))) : null,
            fact('Scheduled', timeUtc(e.scheduled_time)),
            fact('Started', timeUtc(e.started_time)),
            fact('Finished', timeUtc(e.finished_time)),
            fact('Duration', duration(e.duration_ms)),
            fact('Peak memory', bytes(e.peak_memory_bytes)),
            fact('Fuel', e.fuel_consumed === null ? 'not metered' : e.fuel_consumed.toLocaleString('en')),
            fact('Plugin sha256', h('code', { class: 'hash' }, e.plugin_sha256 || '-')),
            fact('Host', `${e.hostname}${e.pid ? ` (pid ${e.pid})` : ''}`),
            e.description ? fact('Why', h('code', {}, e.description)) : null)),
        h('section', { class: 'card', 'aria-labelledby': 'result-title' },
          h('h2', { id: 'result-title' }, 'Result'),
          result === null ? h('p', { class: 'muted' }, running ? 'Not finished yet.' : 'None.')
            : h('pre', { id: 'result', class: 'code', tabindex: 0 }, result))),
      attempts.length > 1 ? h('section', { 'aria-labelledby': 'attempts-title' },
        h('h2', { id: 'attempts-title' }, 'Attempts'),
        h('ol', { class: 'attempts' }, attempts.map((a) => h('li', {},
          a.execution_id === e.execution_id ? h('strong', {}, `attempt ${a.attempt}`) : h('a', { href: `#/executions/${a.execution_id}` }, `attempt ${a.attempt}`),
          ' ', badge(a.state), ' ', timeUtc(a.scheduled_time))))) : null,
      h('section', { 'aria-labelledby': 'logs-title' },
        h('h2', { id: 'logs-title' }, 'Logs'),
        logs.length === 0 ? h('p', { class: 'muted' }, 'No log lines.')
          : h('ol', { class: 'logs', id: 'logs' }, logs.map((l) => h('li', { class: `log-${l.level}` }, h('span', { class: 'level' }, l.level), ' ', l.message)))),
      e.stdout ? h('section', {}, h('h2', {}, 'stdout'), h('pre', { class: 'code', tabindex: 0 }, e.stdout)) : null,
      e.stderr ? h('section', {}, h('h2', {}, 'stderr'), h('pre', { class: 'code', tabindex: 0 }, e.stderr)) : null,
      e.http_requests?.length ? h('section', {}, h('h2', {}, 'HTTP requests'),
        table('HTTP requests', ['Method', 'URL', 'Status', 'Bytes', 'ms', 'Refused or failed'], e.http_requests.map((r) => [
          r.method, h('code', {}, r.url), r.status ?? '-', r.bytes ?? '-', r.ms ?? '-', r.denied ?? r.error ?? '']))) : null);
  };
  draw();
  mount(view, body);
  if (FINAL_STATES.has(execution.state)) return null;

  const source = new EventSource(`/api/v1/executions/${seg(executionId)}/events`);
  source.addEventListener('state', async (event) => {
    execution = JSON.parse(event.data);
    if (FINAL_STATES.has(execution.state)) {
      source.close();
      await loadAttempts();
    }
    draw();
  });
  source.addEventListener('log', (event) => {
    liveLogs.push(JSON.parse(event.data));
    if (!execution.logs?.length) draw();
  });
  source.addEventListener('progress', (event) => {
    const p = JSON.parse(event.data);
    mount(progress, h('label', { for: 'run-progress' }, `Progress: ${p.message ?? ''}`),
      h('progress', { id: 'run-progress', max: 100, value: p.percent }, `${p.percent}%`));
  });
  source.onerror = () => {
    // The stream ended without a final state (the server restarts, or we fell behind):
    // read the execution once more rather than show a stale state.
    source.close();
    get(`/executions/${seg(executionId)}`).then((e) => { execution = e; draw(); }).catch(() => {});
  };
  return () => source.close();
}
