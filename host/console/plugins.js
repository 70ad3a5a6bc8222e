// Plugins: the installed ones with their classes; upload (file picker or drag and drop),
// replace and delete, each showing the server's refusal as it is.

import { h, mount, table, notify, confirmDialog } from './dom.js';
import { api, get, can, seg, query } from './api.js';
import { timeUtc, bytes } from './words.js';

/** A plugin name from a file name: "greeter.wasm" → "greeter". */
function nameOf(file) {
  return file.name.replace(/\.wasm$/i, '');
}

export async function render(view) {
  const { plugins } = await get('/plugins');
  const admin = can('plugins');
  const uploadError = h('p', { id: 'upload-error', class: 'field-error', role: 'alert' });
  const nameInput = h('input', { id: 'plugin-name', type: 'text', placeholder: 'from the file name', 'aria-describedby': 'upload-error' });
  const fileInput = h('input', { id: 'plugin-file', type: 'file', accept: '.wasm,application/wasm', 'aria-describedby': 'upload-error' });

  /** Uploads `file` as `name`; a 409 for new capabilities asks before sending again. */
  const upload = async (file, name, allowNew = false) => {
    uploadError.textContent = '';
    if (!name) {
      uploadError.textContent = 'Give the plugin a name (the part of a job class before the class).';
      return;
    }
    notify(`Uploading ${name} (${bytes(file.size)}); the server compiles it before answering…`);
    try {
      const plugin = await api('POST', `/plugins/${seg(name)}${query({ allow_new_capabilities: allowNew ? 'true' : '' })}`, file);
      notify(`Installed ${plugin.name} with ${plugin.classes.length} class(es).`);
      await render(view);
    } catch (e) {
      document.getElementById('notice').replaceChildren();
      if (e.status === 409 && await confirmDialog(`${e.message}\n\nUpload it anyway?`, 'Upload anyway', false)) {
        await upload(file, name, true);
        return;
      }
      uploadError.textContent = `${name}: ${e.message}`;
      uploadError.scrollIntoView({ block: 'nearest' });
    }
  };
  const uploadForm = admin ? h('form', {
    class: 'card upload', id: 'upload',
    onsubmit: async (event) => {
      event.preventDefault();
      const file = fileInput.files[0];
      if (!file) { uploadError.textContent = 'Choose a .wasm file.'; fileInput.focus(); return; }
      await upload(file, nameInput.value.trim() || nameOf(file));
    },
    ondragover: (event) => { event.preventDefault(); uploadForm.classList.add('drop'); },
    ondragleave: () => uploadForm.classList.remove('drop'),
    ondrop: async (event) => {
      event.preventDefault();
      uploadForm.classList.remove('drop');
      const file = event.dataTransfer.files[0];
      if (file) await upload(file, nameInput.value.trim() || nameOf(file));
    },
  },
  h('h2', {}, 'Upload a plugin'),
  h('p', { class: 'hint' }, 'Drop a .wasm file here, or choose one. Uploading a name that exists replaces that plugin.'),
  h('div', { class: 'filters' },
    h('label', { for: 'plugin-file' }, 'File'), fileInput,
    h('label', { for: 'plugin-name' }, 'Name'), nameInput,
    h('button', { type: 'submit', class: 'primary' }, 'Upload')),
  uploadError) : null;

  const replace = (p) => {
    // Hidden, and no Tab stop of its own: its "Replace…" button opens it.
    const picker = h('input', { type: 'file', accept: '.wasm,application/wasm', class: 'visually-hidden', tabindex: -1, 'aria-label': `New version of ${p.name}` });
    picker.addEventListener('change', () => picker.files[0] && upload(picker.files[0], p.name));
    return [picker, h('button', { type: 'button', onclick: () => picker.click(), 'aria-label': `Replace ${p.name}` }, 'Replace…')];
  };
  const remove = async (p, force = false) => {
    if (!force && !await confirmDialog(`Delete the plugin ${p.name}?`, 'Delete plugin')) return;
    try {
      await api('DELETE', `/plugins/${seg(p.name)}${force ? '?force=true' : ''}`);
      notify(`Deleted ${p.name}.`);
      await render(view);
    } catch (e) {
      if (e.status === 409) {
        if (await confirmDialog(`${e.message}\n\nTheir runs end as "scheduled error" until they are changed or the plugin comes back.`, 'Delete anyway')) await remove(p, true);
        else notify(e.message, 'error');
      } else {
        notify(e.message, 'error');
      }
    }
  };

  mount(view,
    h('h1', {}, 'Plugins'),
    uploadForm,
    plugins.length === 0 ? h('p', { class: 'empty' }, 'No plugins installed.')
      : table('Plugins', ['Name', 'Classes', 'Capabilities', 'Size', 'Uploaded', 'sha256', ''], plugins.map((p) => ({
        attrs: { 'data-plugin': p.name },
        cells: [
          h('strong', {}, p.name),
          h('ul', { class: 'classes' }, p.classes.map((c) => h('li', { title: c.notes }, h('code', {}, c.name)))),
          p.capabilities.length ? p.capabilities.join(', ') : h('span', { class: 'muted' }, 'none'),
          bytes(p.size),
          timeUtc(p.uploaded_time),
          h('code', { class: 'hash', title: p.sha256 }, p.sha256.slice(0, 12)),
          admin ? h('div', { class: 'row-actions' }, replace(p),
            h('button', { type: 'button', class: 'danger', onclick: () => remove(p), 'aria-label': `Delete ${p.name}` }, 'Delete')) : null,
        ],
      })), { id: 'plugins-table' }));
}
