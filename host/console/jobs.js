// Jobs: the table of every job, with search, a state filter and each job's actions.

import { h, mount, table, badge, notify, confirmDialog } from './dom.js';
import { api, get, can, seg } from './api.js';
import { schedule, timeUtc } from './words.js';

/** The newest execution of each job: one page of recent runs, then a look-up for the rest. */
async function lastRuns(jobList) {
  const last = new Map();
  const recent = await get('/executions?limit=200');
  for (const e of recent.executions) if (!last.has(e.job_id)) last.set(e.job_id, e);
  const missing = jobList.filter((j) => !last.has(j.job_id)).slice(0, 50);
  await Promise.all(missing.map(async (j) => {
    const page = await get(`/executions?job_id=${seg(j.job_id)}&limit=1`);
    if (page.executions[0]) last.set(j.job_id, page.executions[0]);
  }));
  return last;
}

/** Pause, resume, run now and delete, as buttons; `done` runs after a change. */
export function jobActions(job, done) {
  if (!can('jobs')) return null;
  const act = (label, fn, cls = '') => h('button', { type: 'button', class: cls, onclick: fn, 'aria-label': `${label} ${job.name}` }, label);
  const paused = job.state === 'paused';
  return h('div', { class: 'row-actions' },
    act(paused ? 'Resume' : 'Pause', async () => {
      try {
        await api('POST', `/jobs/${seg(job.job_id)}/${paused ? 'resume' : 'pause'}`);
        notify(`${paused ? 'Resumed' : 'Paused'} ${job.name}.`);
        await done();
      } catch (e) { notify(e.message, 'error'); }
    }),
    act('Run now', async () => {
      try {
        const { execution_id: id } = await api('POST', `/executions/${seg(job.job_id)}`);
        location.hash = `#/executions/${id}`;
      } catch (e) { notify(e.message, 'error'); }
    }),
    act('Delete', async () => {
      if (!await confirmDialog(`Delete the job "${job.name}"? It stops firing; its executions stay.`, 'Delete job')) return;
      try {
        await api('DELETE', `/jobs/${seg(job.job_id)}`);
        notify(`Deleted ${job.name}.`);
        await done(true);
      } catch (e) { notify(e.message, 'error'); }
    }, 'danger'));
}

export async function render(view, params) {
  const search = h('input', { id: 'job-search', type: 'search', placeholder: 'name or class', value: params.get('q') ?? '' });
  const stateFilter = h('select', { id: 'job-state' },
    ['', 'active', 'paused', 'finished'].map((s) => h('option', { value: s, selected: s === (params.get('state') ?? '') }, s || 'any')));
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  mount(view,
    h('div', { class: 'page-head' },
      h('h1', {}, 'Jobs'),
      can('jobs') ? h('a', { class: 'button primary', href: '#/jobs/new' }, 'Add job') : null),
    h('div', { class: 'filters', role: 'search' },
      h('label', { for: 'job-search' }, 'Search'), search,
      h('label', { for: 'job-state' }, 'State'), stateFilter),
    list);

  let jobList = [];
  let last = new Map();
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const state = stateFilter.value;
    const shown = jobList.filter((j) => (!state || j.state === state)
      && (!q || j.name.toLowerCase().includes(q) || j.job_class_string.toLowerCase().includes(q)));
    if (jobList.length === 0) {
      mount(list, h('p', { class: 'empty' }, 'No jobs yet. ', can('jobs') ? h('a', { href: '#/jobs/new' }, 'Add the first one.') : null));
      return;
    }
    mount(list,
      h('p', { class: 'muted' }, `${shown.length} of ${jobList.length} jobs`),
      table('Jobs', ['Name', 'Class', 'Schedule', 'Next run', 'Last result', 'State', ''],
        shown.map((j) => {
          const run = last.get(j.job_id);
          return {
            attrs: { 'data-job': j.name },
            cells: [
              h('a', { href: `#/jobs/${j.job_id}` }, j.name),
              h('code', {}, j.job_class_string),
              schedule(j),
              timeUtc(j.next_run_time),
              run ? h('a', { href: `#/executions/${run.execution_id}` }, badge(run.state), ' ', timeUtc(run.updated_time)) : h('span', { class: 'muted' }, 'never run'),
              badge(j.state),
              jobActions(j, load),
            ],
          };
        }), { id: 'jobs-table' }));
  };
  const load = async () => {
    jobList = (await get('/jobs')).jobs;
    last = await lastRuns(jobList);
    draw();
  };
  search.addEventListener('input', draw);
  stateFilter.addEventListener('change', draw);
  await load();
}
