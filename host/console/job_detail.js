// One job: its settings, next fire times, executions and audit trail.

import { h, mount, table, badge } from './dom.js';
import { get, can, seg, query } from './api.js';
import { schedule, timeUtc, duration } from './words.js';
import { jobActions } from './jobs.js';

// The audit log has no job filter: the trail is this job's entries of this many days.
const AUDIT_DAYS = 90;

function value(v) {
  if (v === null || v === undefined || v === '') return '-';
  return typeof v === 'object' ? h('code', {}, JSON.stringify(v)) : String(v);
}

export async function render(view, jobId) {
  const id = seg(jobId);
  const start = new Date(Date.now() - AUDIT_DAYS * 86400e3).toISOString();
  const [job, next, runs, logs] = await Promise.all([
    get(`/jobs/${id}`),
    get(`/jobs/${id}/next-runs?count=10`),
    get(`/executions${query({ job_id: jobId, limit: 20 })}`),
    get(`/logs${query({ time_range_start: start, time_range_end: new Date().toISOString() })}`),
  ]);
  const reload = async (deleted) => {
    if (deleted) location.hash = '#/jobs';
    else await render(view, jobId);
  };
  const settings = Object.entries(job).filter(([k]) => !['job_id', 'name', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute'].includes(k));
  const trail = logs.logs.filter((l) => l.job_id === jobId);
  mount(view,
    h('div', { class: 'page-head' },
      h('h1', {}, job.name, ' ', badge(job.state)),
      h('div', { class: 'row-actions' },
        can('jobs') ? h('a', { class: 'button', href: `#/jobs/${job.job_id}/edit` }, 'Edit') : null,
        jobActions(job, reload))),
    h('p', { class: 'lead' }, schedule(job), ' · ', h('code', {}, job.job_class_string)),
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'settings-title' },
        h('h2', { id: 'settings-title' }, 'Settings'),
        h('dl', { class: 'settings' }, h('dt', {}, 'job_id'), h('dd', {}, h('code', {}, job.job_id)),
          settings.map(([k, v]) => [h('dt', {}, k), h('dd', {}, k === 'next_run_time' ? timeUtc(v) : value(v))]))),
      h('section', { class: 'card', 'aria-labelledby': 'next-title' },
        h('h2', { id: 'next-title' }, 'Next runs'),
        next.next_runs.length === 0 ? h('p', { class: 'muted' }, 'None: the job is finished.')
          : h('ol', { class: 'times', id: 'next-runs' }, next.next_runs.map((r) => h('li', {},
            h('time', { datetime: r.utc }, timeUtc(r.utc)),
            next.timezone !== 'UTC' ? h('span', { class: 'muted' }, ` (${r.local.replace('T', ' ')} ${next.timezone})`) : null))))),
    h('section', { 'aria-labelledby': 'runs-title' },
      h('div', { class: 'page-head' },
        h('h2', { id: 'runs-title' }, 'Executions'),
        h('a', { href: `#/executions?job_id=${job.job_id}` }, 'All executions of this job')),
      runs.executions.length === 0 ? h('p', { class: 'muted' }, 'No runs yet.')
        : table('Executions of the job', ['Execution', 'State', 'Kind', 'Scheduled', 'Duration'], runs.executions.map((e) => [
          h('a', { href: `#/executions/${e.execution_id}` }, e.execution_id.slice(0, 12)),
          badge(e.state), `${e.run_kind}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`,
          timeUtc(e.scheduled_time), duration(e.duration_ms)]))),
    h('section', { 'aria-labelledby': 'trail-title' },
      h('h2', { id: 'trail-title' }, `Audit trail (last ${AUDIT_DAYS} days)`),
      trail.length === 0 ? h('p', { class: 'muted' }, 'No entries.')
        : table('Audit trail of the job', ['Time', 'Event', 'User', 'Description'], trail.map((l) => [
          timeUtc(l.created_time), l.event, l.user || h('span', { class: 'muted' }, 'anonymous'),
          l.description ? h('span', { class: 'pre' }, l.description) : '-']))));
}
