import { h, showError, clearMessage } from '../dom.js';

// Asks for a reason (required) in a modal dialog and runs the action with it. The dialog stays
// open on a failure, so a retry is the same request (the same idempotency key, for instance).
export function withReason({ title, explain, confirm, danger = false, action }) {
  // Not 'required': the browser's own bubble would stop the form before the page can say why.
  const reason = h('textarea', { name: 'reason', id: 'reason', maxlength: 500 });
  const submit = h('button', { type: 'submit', class: danger ? 'danger' : null }, confirm);
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Back');
  const problem = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
  const form = h('form', { method: 'dialog' },
    h('h2', {}, title),
    explain ? h('p', { class: 'muted' }, explain) : null,
    h('label', { class: 'field', for: 'reason' }, h('span', {}, 'Reason'), reason),
    problem,
    h('div', { class: 'actions' }, submit, cancel));
  const dialog = h('dialog', { class: 'reason-dialog' }, form);
  document.body.append(dialog);
  const close = () => { dialog.close(); dialog.remove(); };
  cancel.addEventListener('click', close);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      problem.textContent = 'A reason is required.';
      problem.hidden = false;
      reason.focus();
      return;
    }
    submit.disabled = true;
    problem.hidden = true;
    clearMessage();
    try {
      await action(reason.value.trim());
      close();
    } catch (error) {
      problem.textContent = error && error.readable ? error.readable : 'Something went wrong. Try again.';
      problem.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  dialog.showModal();
  reason.focus();
  return dialog;
}

export { showError };
