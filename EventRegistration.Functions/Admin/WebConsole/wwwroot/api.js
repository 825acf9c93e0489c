// Every call to the admin API, and the one place that turns a failure into words for a person.

const keyStorage = 'evreg.adminKey';
const apiBase = new URL('../admin/', document.baseURI);

export class ApiError extends Error {
  constructor(status, title, detail, field, type, problem = {}) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.field = field;
    this.type = type;
    this.problem = problem; // the whole problem document, its extension members included
  }

  // What a person reads: the API's own title and detail (problem+json), the field at fault.
  get readable() {
    if (this.status === 0) return this.detail;
    const field = this.field ? ` (field: ${this.field})` : '';
    return `${this.title}: ${this.detail}${field}`;
  }
}

export const credentials = {
  get key() { return sessionStorage.getItem(keyStorage); },
  set key(value) {
    if (value) sessionStorage.setItem(keyStorage, value); else sessionStorage.removeItem(keyStorage);
  },
};

// Who is signed in (GET /api/admin/session): role 'organiser' or 'operator', and how they came in.
export const session = {
  role: null,
  signedInWith: null,
  signIn: { adminKey: true, microsoft: null },
  get isOperator() { return this.role === 'operator'; },
};

const statusWords = {
  400: 'The request was not accepted', 401: 'Not signed in', 403: 'Not allowed', 404: 'Not found',
  409: 'Conflict', 413: 'Too large', 422: 'Refused', 429: 'Too many requests', 500: 'Server error',
  502: 'A provider failed', 503: 'Service unavailable', 504: 'Timed out',
};

async function toError(response) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try {
      const problem = await response.json();
      if (problem && (problem.title || problem.detail)) {
        return new ApiError(response.status, problem.title || statusWords[response.status] || 'Error',
          problem.detail || '', problem.field, problem.type, problem);
      }
    } catch { /* not JSON after all: fall through to the status */ }
  }
  const title = statusWords[response.status] || `Error ${response.status}`;
  const detail = response.status >= 500
    ? `The server answered ${response.status}. Nothing is shown as done; try again in a moment.`
    : `The server answered ${response.status}.`;
  return new ApiError(response.status, title, detail);
}

// path: relative to /api/admin/, e.g. "events" or "events/…/attendees?limit=50".
export async function api(method, path, { json, body, contentType, headers = {}, useKey = true, blob = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  const key = credentials.key;
  if (useKey && key) init.headers['X-Admin-Key'] = key;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.headers['Content-Type'] = contentType;
    init.body = body;
  }
  let response;
  try {
    response = await fetch(new URL(path, apiBase), init);
  } catch {
    throw new ApiError(0, 'No connection',
      'Could not reach the server. Check the connection and try again; nothing was changed by this attempt.');
  }
  if (!response.ok) throw await toError(response);
  if (response.status === 204) return null;
  // A file to save: its bytes as they came (text() would drop a CSV's byte order mark).
  if (blob) return response.blob();
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}
