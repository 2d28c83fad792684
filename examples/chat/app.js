// The chat demo: plain ES module, no framework, no bundler. Uses the CometServer API of the
// `cometa` package (served by the relay at /sdk/) the way a CppComet page would.
import { CometServer } from '/sdk/comet.js';

const $ = (id) => document.getElementById(id);
const comet = CometServer();
const LOGIN_KEY = 'chat:login';

let me = null; // {user_id, user_key, dev_id, name}
const names = new Map(); // user id → display name (getUserData)
const online = new Set();

// --- rendering -------------------------------------------------------------------------

function displayName(id) {
  if (!id) return 'server';
  if (!names.has(id)) {
    names.set(id, id);
    // CppComet's answer: `user_data` is the stored JSON as text ("" when none).
    comet.getUserData(id, (a) => {
      const name = a.data && a.data.user_data && JSON.parse(a.data.user_data).name;
      if (name) {
        names.set(id, name);
        document.querySelectorAll(`[data-user="${CSS.escape(id)}"]`).forEach((el) => (el.textContent = name));
      }
    });
  }
  return names.get(id);
}

function who(id) {
  const b = document.createElement('b');
  b.dataset.user = id || '';
  b.textContent = displayName(id);
  return b;
}

// Messages are kept sorted by seq and rendered once per uuid: the history a page asks for on
// load and the replay of what it missed may overlap, and may arrive in either order.
function addMessage(list, m, decorate) {
  const key = m.server_info.uuid;
  if (key && list.querySelector(`[data-uuid="${CSS.escape(key)}"]`)) return;
  const li = document.createElement('li');
  if (key) li.dataset.uuid = key;
  li.dataset.seq = m.server_info.seq ?? '';
  if (m.server_info.user_id && me && m.server_info.user_id === me.user_id) li.className = 'mine';
  decorate(li, m);
  const seq = m.server_info.seq;
  const after = seq === undefined ? null : [...list.children].find((x) => x.dataset.seq !== '' && Number(x.dataset.seq) > seq);
  list.insertBefore(li, after || null);
  list.scrollTop = list.scrollHeight;
}

function textOf(data) {
  return data && typeof data === 'object' && 'text' in data ? String(data.text) : JSON.stringify(data);
}

const roomLine = (li, m) => {
  li.append(who(m.server_info.user_id), document.createTextNode(' ' + textOf(m.data)));
};

const dmLine = (li, m) => {
  const to = m.data && m.data.to;
  li.append(who(m.server_info.user_id), document.createTextNode(' → '), who(to), document.createTextNode(': ' + textOf(m.data)));
};

const personalLine = (li, m) => {
  const tag = document.createElement('i');
  tag.textContent = m.server_info.event;
  li.append(tag, document.createTextNode(' ' + textOf(m.data)));
};

function renderOnline() {
  const ul = $('online');
  ul.replaceChildren(
    ...[...online].sort().map((id) => {
      const li = document.createElement('li');
      li.append(who(id));
      if (me && id === me.user_id) li.append(document.createTextNode(' (you)'));
      return li;
    }),
  );
  $('online-count').textContent = `(${online.size})`;
  const select = $('dm-to');
  const chosen = select.value;
  select.replaceChildren(new Option('to…', ''), ...[...online].filter((id) => !me || id !== me.user_id).sort().map((id) => new Option(displayName(id), id)));
  select.value = chosen;
}

// --- the comet session -------------------------------------------------------------------

function connect() {
  $('login').hidden = true;
  $('chat').hidden = false;
  $('me').hidden = false;
  $('me-name').textContent = me.name;

  comet.onAuthSuccess(() => $('status').classList.add('on'));
  comet.onAuthFalill((a) => {
    $('status').classList.remove('on');
    $('send-error').textContent = `not signed in: ${a.error ? a.error.message : 'refused'}`;
  });

  // Room: live messages, plus the kept history on load.
  comet.subscription('web_chat.message', (m) => addMessage($('messages'), m, roomLine));
  comet.subscription('#web_chat', (r) => {
    $('send-error').textContent = r.data.error ? `not sent: ${r.data.error.message}` : '';
  });
  comet.get_pipe_log('web_chat', (m) => !m.error && addMessage($('messages'), m, roomLine));

  // Who is online: the member list once, then each connection (tab) coming and going as
  // `subscription`/`unsubscription` (CppComet's events), so a user stays while a tab is left.
  const tabs = new Map();
  comet.subscription('track_online', (m) => {
    const id = m.data && m.data.user_id;
    if (!id) return;
    const n = (tabs.get(id) || 0) + (m.server_info.event === 'subscription' ? 1 : -1);
    tabs.set(id, Math.max(n, 0));
    if (n > 0) online.add(id);
    else if (m.server_info.event === 'unsubscription') online.delete(id);
    renderOnline();
  });
  comet.getTrackPipeUsers('track_online', (a) => {
    (a.data || []).forEach((id) => {
      online.add(id);
      tabs.set(id, Math.max(tabs.get(id) || 0, 1));
    });
    renderOnline();
  });

  // “Private” messages to me (see the note on the page), and their history.
  const inbox = `web_dm_${me.user_id}`;
  comet.subscription(`${inbox}.dm`, (m) => addMessage($('dms'), m, dmLine));
  comet.get_pipe_log(inbox, (m) => !m.error && addMessage($('dms'), m, dmLine));

  // Personal messages from the back end: every event of `msg`.
  comet.subscription('msg', (m) => addMessage($('personal'), m, personalLine));
  comet.get_pipe_log('msg', (m) => !m.error && addMessage($('personal'), m, personalLine));

  comet.start({ dev_id: me.dev_id, user_id: me.user_id, user_key: me.user_key });
}

async function login(name) {
  const res = await fetch('/demo/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || body.error || `HTTP ${res.status}`);
  return { ...body, name };
}

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    me = await login($('name').value.trim());
    localStorage.setItem(LOGIN_KEY, JSON.stringify(me));
    connect();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  comet.web_pipe_send('web_chat', 'message', { text });
  $('text').value = '';
});

$('dm-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const to = $('dm-to').value;
  const text = $('dm-text').value.trim();
  if (!to || !text) return;
  comet.web_pipe_send(`web_dm_${to}`, 'dm', { text, to });
  // My own copy: I am not subscribed to the recipient's inbox.
  addMessage($('dms'), { data: { text, to }, server_info: { user_id: me.user_id } }, dmLine);
  $('dm-text').value = '';
});

$('logout').addEventListener('click', () => {
  comet.stop();
  localStorage.removeItem(LOGIN_KEY);
  location.reload();
});

// A reload keeps the login, and the SDK keeps its stream positions: the page comes back with
// the history and exactly the messages it missed.
try {
  me = JSON.parse(localStorage.getItem(LOGIN_KEY));
} catch {
  me = null;
}
if (me && me.user_id && me.user_key) connect();
window.chatReady = true;
