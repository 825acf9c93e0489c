// Small DOM helpers: every text goes in as text (never as HTML), so nothing the API returns can run.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const message = () => document.getElementById('message');

export function showError(error) {
  // A failure that is not the API's answer is a bug in the page: a plain sentence for the person,
  // the details for whoever opens the browser's console.
  if (!(error && error.readable)) console.error(error);
  const box = message();
  box.className = 'error';
  box.textContent = error && error.readable ? error.readable : 'Something went wrong. Try again.';
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

export function showNotice(text) {
  const box = message();
  box.className = 'notice';
  box.textContent = text;
  box.hidden = false;
}

let pending = null;

// A notice for the page the console is about to show (a hash change clears the message box first).
export function flash(text) {
  pending = text;
}

export function showPending() {
  if (pending) showNotice(pending);
  pending = null;
}

export function clearMessage() {
  const box = message();
  box.hidden = true;
  box.textContent = '';
}

export function money(paise, currency = 'INR') {
  return new Intl.NumberFormat('en-IN', { style: 'currency', currency }).format(paise / 100);
}

export function when(iso, timeZone) {
  if (!iso) return '';
  const options = { dateStyle: 'medium', timeStyle: 'short' };
  if (timeZone) options.timeZone = timeZone;
  try {
    return new Intl.DateTimeFormat('en-IN', options).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat('en-IN', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
  }
}

// Runs an action from a button or form: disables it meanwhile, shows the failure as words and,
// when the API names the field at fault, marks that input of the form.
export async function act(control, action, form) {
  clearMessage();
  if (form) for (const marked of form.querySelectorAll('[aria-invalid]')) marked.removeAttribute('aria-invalid');
  if (control) control.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(error);
    const culprit = form && error && error.field ? form.querySelector(`[name="${CSS.escape(error.field)}"]`) : null;
    if (culprit) {
      culprit.setAttribute('aria-invalid', 'true');
      culprit.focus();
    }
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}
