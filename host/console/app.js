// The console's shell: the session, the login form, and hash routing to the pages.

import { h, mount, notify } from './dom.js';
import { session, loadSession, login, logout } from './api.js';
import * as jobs from './jobs.js';
import * as jobForm from './job_form.js';
import * as jobDetail from './job_detail.js';
import * as executions from './executions.js';
import * as plugins from './plugins.js';
import * as audit from './audit.js';

const view = document.getElementById('view');

// Each route: a pattern over the hash's path, the nav entry it belongs to, its page.
const ROUTES = [
  [/^\/jobs\/new$/, 'jobs', () => jobForm.render(view, null)],
  [/^\/jobs\/([0-9a-f]+)\/edit$/, 'jobs', (id) => jobForm.render(view, id)],
  [/^\/jobs\/([0-9a-f]+)$/, 'jobs', (id) => jobDetail.render(view, id)],
  [/^\/jobs$/, 'jobs', (_, q) => jobs.render(view, q)],
  [/^\/executions\/([0-9a-f]+)$/, 'executions', (id) => executions.renderOne(view, id)],
  [/^\/executions$/, 'executions', (_, q) => executions.render(view, q)],
  [/^\/plugins$/, 'plugins', () => plugins.render(view)],
  [/^\/audit$/, 'audit', (_, q) => audit.render(view, q)],
];

// What the page on screen must stop when it is left (event streams, timers).
let leave = null;
let loggedIn = false;

async function route() {
  if (leave) {
    leave();
    leave = null;
  }
  if (!loggedIn) return;
  const hash = location.hash.replace(/^#/, '') || '/jobs';
  const [path, search] = hash.split('?');
  const params = new URLSearchParams(search ?? '');
  for (const [pattern, nav, page] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    mount(view, h('p', { class: 'muted' }, 'Loading…'));
    try {
      leave = (await page(m[1], params)) ?? null;
    } catch (e) {
      if (e.status !== 401) mount(view, h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, e.message));
    }
    return;
  }
  mount(view, h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '#/jobs' }, 'Back to the jobs')));
}

function showWho() {
  const who = document.getElementById('who');
  if (!session.auth) {
    mount(who, h('span', { class: 'muted', title: 'The server runs without access control' }, 'no login needed'));
    return;
  }
  mount(who,
    h('span', {}, session.name, ' ', h('span', { class: 'role' }, session.role)),
    h('button', {
      type: 'button', class: 'link', onclick: async () => {
        try { await logout(); } catch (e) { notify(e.message, 'error'); }
        showLogin('Logged out.');
      },
    }, 'Log out'));
}

/** The login form: a token, sent once; the session then lives in an HttpOnly cookie. */
function showLogin(reason) {
  loggedIn = false;
  if (leave) { leave(); leave = null; }
  mount(document.getElementById('who'));
  const error = h('p', { id: 'login-error', class: 'field-error', role: 'alert' });
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'login-error' });
  const form = h('form', {
    class: 'card login', onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      try {
        await login(token.value);
        loggedIn = true;
        showWho();
        await route();
      } catch (e) {
        error.textContent = e.message;
        token.focus();
      }
    },
  },
  h('h1', {}, 'Log in'),
  reason ? h('p', { class: 'muted' }, reason) : null,
  h('label', { for: 'token' }, 'API token'),
  token, error,
  h('p', { class: 'hint' }, 'An administrator makes one with ', h('code', {}, 'wasmcron token create'), '.'),
  h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  mount(view, form);
  token.focus();
}

window.addEventListener('wasmcron:login-needed', (e) => showLogin(e.detail));
window.addEventListener('hashchange', () => {
  document.getElementById('notice').replaceChildren();
  // The new page's content gets the focus (a screen reader reads on from there), unless
  // the page put it somewhere itself: the job form's first field.
  route().then(() => {
    if (!view.contains(document.activeElement)) view.focus({ preventScroll: true });
  });
});

async function start() {
  try {
    loggedIn = await loadSession();
  } catch (e) {
    mount(view, h('h1', {}, 'The server did not answer'), h('p', { class: 'error' }, e.message));
    return;
  }
  if (!loggedIn) {
    showLogin();
    return;
  }
  showWho();
  await route();
}

start();
