// Building the page from data: every text goes in as a text node, never as HTML, so a
// job name or a log line cannot inject markup.

/** An element: h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'for') {
      el.htmlFor = value;
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked' || key === 'selected' || key === 'disabled') {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A table with a header row; `rows` are arrays of cells (each a node or text). On a narrow
 * screen each row becomes a card, its cells labelled with their column's header.
 */
export function table(caption, headers, rows, attrs = {}) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'stack', ...attrs },
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => rowOf(cells, headers)))));
}

/** A table row from cells; a row may be given as {cells, attrs}. */
export function rowOf(row, headers = []) {
  const { cells, attrs } = Array.isArray(row) ? { cells: row, attrs: {} } : row;
  return h('tr', attrs, cells.map((c, i) => h('td', { 'data-label': headers[i] || null }, c)));
}

/** An execution or job state as a coloured badge. */
export function badge(state) {
  const kind = String(state ?? '').replace(/\s+/g, '-');
  return h('span', { class: `badge state-${kind}` }, state ?? '-');
}

/** The message area shared by all pages (an ARIA live region). */
export function notify(message, kind = 'info', link = null) {
  const area = document.getElementById('notice');
  mount(area, h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    message, link ? [' ', link] : null,
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => area.replaceChildren() }, '×')));
}

/** A modal question: resolves true when the user confirms. */
export function confirmDialog(message, confirmLabel, danger = true) {
  const dialog = document.getElementById('confirm');
  return new Promise((resolve) => {
    const ok = h('button', { type: 'submit', value: 'ok', class: danger ? 'danger' : '' }, confirmLabel);
    mount(dialog, h('form', { method: 'dialog' },
      h('p', { class: 'pre' }, message),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', value: 'cancel' }, 'Cancel'), ok)));
    dialog.onclose = () => resolve(dialog.returnValue === 'ok');
    dialog.returnValue = 'cancel';
    dialog.showModal();
    ok.focus();
  });
}

/** A debounced function: runs `fn` `ms` after the last call. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
