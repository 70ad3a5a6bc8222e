// The audit log: who changed what, in a time range (the last 24 hours by default).

import { h, mount, table } from './dom.js';
import { get, query } from './api.js';
import { timeUtc, fromLocalInput, toLocalInput } from './words.js';

export async function render(view, params) {
  const now = new Date();
  const start = params.get('start') || toLocalInput(new Date(now.getTime() - 86400e3));
  const end = params.get('end') || '';
  const { logs } = await get(`/logs${query({
    time_range_start: fromLocalInput(start),
    time_range_end: end ? fromLocalInput(end) : now.toISOString(),
  })}`);
  const startInput = h('input', { id: 'a-start', type: 'datetime-local', value: start });
  const endInput = h('input', { id: 'a-end', type: 'datetime-local', value: end });
  mount(view,
    h('h1', {}, 'Audit log'),
    h('form', {
      class: 'filters', role: 'search', onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/audit${query({ start: startInput.value, end: endInput.value })}`;
      },
    },
    h('label', { for: 'a-start' }, 'From'), startInput,
    h('label', { for: 'a-end' }, 'To (now when empty)'), endInput,
    h('button', { type: 'submit' }, 'Show')),
    logs.length === 0 ? h('p', { class: 'empty' }, 'Nothing happened in this range.')
      : table('Audit log', ['Time', 'Event', 'Job or plugin', 'User', 'Description'], logs.map((l) => [
        timeUtc(l.created_time),
        h('span', { class: `event event-${l.event}` }, l.event),
        l.job_id ? h('a', { href: `#/jobs/${l.job_id}` }, l.job_name) : l.job_name,
        l.user || h('span', { class: 'muted' }, 'anonymous'),
        l.description ? h('span', { class: 'pre' }, l.description) : '-',
      ]), { id: 'audit-table' }));
}
