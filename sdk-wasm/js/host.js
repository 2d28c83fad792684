// Host I/O of cometa-sdk, imported by `src/http.rs` and `src/error.rs`. Shipped next to the
// wasm as a wasm-bindgen snippet. Only what is cheaper in JS than through the wasm boundary
// lives here: the RequestError class (it must extend Error) and the wx.request-shaped fetch.
// Every decision about sessions, login and the tunnel stays in Rust.

export class RequestError extends Error {
  constructor(type, message) {
    super(message);
    this.name = 'RequestError';
    this.type = type;
  }
}

// `a=1&b=x%20y`; nested objects as JSON, undefined members skipped (wx.request's encoding).
const query = (data) =>
  typeof data !== 'object'
    ? String(data)
    : Object.keys(data)
        .filter((k) => data[k] !== undefined)
        .map((k) => {
          const v = data[k];
          return encodeURIComponent(k) + '=' + encodeURIComponent(v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
        })
        .join('&');

// One exchange shaped like wx.request: `data` goes in the query for GET/HEAD and in the body
// otherwise (JSON unless a form content-type is set, raw for strings and binary); every HTTP
// status resolves to `{ data, statusCode, header }`, `data` JSON-parsed when it parses (the
// default `dataType: 'json'`). Only a failed exchange rejects, with a RequestError.
export async function wxRequest(o, url, method, extra) {
  o = Object(o);
  const header = {};
  let contentType = '';
  for (const [k, v] of Object.entries(Object(o.header))) {
    if (v != null) header[k] = String(v);
  }
  Object.assign(header, extra);
  for (const k in header) if (k.toLowerCase() === 'content-type') contentType = header[k];
  const init = { method, headers: header };
  const data = o.data;
  if (data != null) {
    if (method === 'GET' || method === 'HEAD') {
      const q = query(data);
      if (q) {
        const hash = url.indexOf('#');
        const base = hash < 0 ? url : url.slice(0, hash);
        const sep = !base.includes('?') ? '?' : /[?&]$/.test(base) ? '' : '&';
        url = base + sep + q + (hash < 0 ? '' : url.slice(hash));
      }
    } else if (typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      init.body = data;
    } else if (contentType.includes('x-www-form-urlencoded')) {
      init.body = query(data);
    } else {
      try {
        init.body = JSON.stringify(data);
      } catch (e) {
        throw new RequestError('ERR_INVALID_PARAMS', 'options.data cannot be encoded as JSON: ' + e.message);
      }
      if (!contentType) header['content-type'] = 'application/json';
    }
  }
  if (o.timeout > 0 && typeof AbortSignal.timeout === 'function') init.signal = AbortSignal.timeout(o.timeout);
  let res, body;
  try {
    res = await fetch(url, init);
    body = o.responseType === 'arraybuffer' ? await res.arrayBuffer() : await res.text();
  } catch (e) {
    const err = new RequestError('ERR_REQUEST_FAILED', 'request:fail ' + ((e && e.message) || e));
    err.errMsg = err.message; // what code written for wx.request reads
    throw err;
  }
  if (typeof body === 'string' && body && (o.dataType === undefined || o.dataType === 'json')) {
    try {
      body = JSON.parse(body);
    } catch {
      // wx.request keeps the text when it is not JSON.
    }
  }
  return { data: body, statusCode: res.status, header: Object.fromEntries(res.headers) };
}
