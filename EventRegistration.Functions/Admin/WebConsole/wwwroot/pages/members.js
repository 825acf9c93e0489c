import { api } from '../api.js';
import { h, act, showNotice } from '../dom.js';
import { render } from '../app.js';

const formats = {
  csv: { type: 'text/csv', label: 'CSV (header: memberId,name,whatsApp,email)' },
  ndjson: { type: 'application/x-ndjson', label: 'JSON lines (one {"memberId","name","whatsApp","email"} per line)' },
};

function guessFormat(name) {
  return /\.(jsonl|ndjson)$/i.test(name) ? 'ndjson' : 'csv';
}

// The member import: a file (or pasted text) sent as it is; the answer's counts and per-row errors.
export async function show() {
  const file = h('input', { type: 'file', id: 'import-file', name: 'file', accept: '.csv,.jsonl,.ndjson,text/csv,application/x-ndjson' });
  const text = h('textarea', { id: 'import-text', name: 'text', rows: 6, placeholder: 'memberId,name,whatsApp,email\n6f1c2a1e-0000-4000-8000-0000000000a1,"Sharma, Anita",+919812345678,anita@example.org' });
  const format = h('select', { id: 'import-format', name: 'format' },
    Object.entries(formats).map(([k, f]) => h('option', { value: k }, f.label)));
  const send = h('button', { type: 'submit' }, 'Import');
  const result = h('section', { id: 'import-result' });
  file.addEventListener('change', () => { if (file.files[0]) format.value = guessFormat(file.files[0].name); });
  const form = h('form', { class: 'card', id: 'import-form' },
    h('h1', {}, 'Import members'),
    h('p', { class: 'muted' }, 'CSV with a header line memberId,name,whatsApp,email (a spreadsheet’s “CSV UTF-8”), or JSON lines. Members are matched on their id (a UUID): importing the same file again changes nothing. Rows with errors are listed below; the good rows are imported.'),
    h('label', { class: 'field' }, h('span', {}, 'File'), file),
    h('label', { class: 'field' }, h('span', {}, 'Or paste the rows'), text),
    h('label', { class: 'field' }, h('span', {}, 'Format'), format),
    send);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    act(send, async () => {
      const chosen = formats[format.value];
      const body = file.files[0] ? file.files[0] : text.value;
      if (!body || (typeof body === 'string' && !body.trim())) {
        result.replaceChildren(h('p', { class: 'error-text' }, 'Choose a file or paste the rows first.'));
        return;
      }
      const answer = await api('POST', 'members/import', { body, contentType: chosen.type });
      const counts = Object.entries(answer).filter(([, v]) => typeof v === 'number');
      const errors = Array.isArray(answer.errors) ? answer.errors : [];
      result.replaceChildren(...[
        h('div', { class: 'card', id: 'import-counts' },
          h('h2', {}, 'Imported'),
          h('dl', { class: 'counts' }, counts.map(([k, v]) => [h('dt', {}, k.replace(/([A-Z])/g, ' $1').toLowerCase()), h('dd', {}, String(v))]))),
        errors.length
          ? h('div', { class: 'table-wrap' },
            h('h2', {}, `${answer.failed ?? errors.length} row${(answer.failed ?? errors.length) === 1 ? '' : 's'} not imported`),
            h('table', { class: 'cards errors', id: 'import-errors' },
              h('thead', {}, h('tr', {}, h('th', {}, 'Line'), h('th', {}, 'Field'), h('th', {}, 'Reason'))),
              h('tbody', {}, errors.map((err) => h('tr', {},
                h('td', { 'data-label': 'Line' }, String(err.line)),
                h('td', { 'data-label': 'Field' }, err.field || '—'),
                h('td', { 'data-label': 'Reason' }, err.reason))))))
          : h('p', { class: 'muted' }, 'Every row was accepted.'),
        answer.errorsTruncated ? h('p', { class: 'muted' }, `Only the first ${errors.length} errors are listed; ${answer.failed} rows were not imported in all.`) : null,
      ].filter(Boolean));
      showNotice(errors.length ? 'Import finished; some rows need fixing (below).' : 'Import finished.');
    });
  });
  render(form, result);
}
