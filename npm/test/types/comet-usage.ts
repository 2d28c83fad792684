// Compiled with `tsc --noEmit` by the test suite, like usage.ts, for `cometa/comet`.
import CometServerDefault, { CometServer, CometApi } from 'cometa/comet';
import type { CometMessage, DeliveryReport, RecoveryNotice } from 'cometa/comet';

const api = CometServer();
api.start({ dev_id: 0, user_id: 'alice', user_key: 'k', node: 'https://relay.example.com' }, () => void 0);
const id: number = api.subscription<{ text: string }>('web_chat.message', (m) => {
  const t: string = m.data.text;
  const seq: number | undefined = m.server_info.seq;
  void t;
  void seq;
});
api.subscription((m: CometMessage) => void m.server_info.pipe);
api.subscription('#web_chat', (r: DeliveryReport) => void r.data.error?.code);
api.subscription('sys.recovery', (r: RecoveryNotice) => void r.data.epoch);
api.web_pipe_send('web_chat', 'message', { text: 'hi' });
api.web_pipe_send('web_chat.message', { text: 'hi' });
api.get_pipe_log('web_chat', (m) => void m.server_info);
api.count_users_in_pipe('web_chat', (a) => void a.data?.user_in_pipe);
api.getTrackPipeUsers('track_online', (a) => void a.data?.length);
api.getUserData('bob', (a) => void (a.error?.message ?? a.data?.user_data.length));
api.onAuthSuccess((a) => void a.data?.device);
api.onAuthFalill((a) => void a.error?.code);
const ok: boolean = api.isAuthorized() && api.isMaster() && api.unsubscription(id);
const uuid: string = api.getUUID() + api.getTabUUID();
void ok;
void uuid;
new CometApi().restart();
CometServerDefault().stop();

// @ts-expect-error: the callback comes second
api.subscription(() => void 0, 'web_chat');
// @ts-expect-error: ids are numbers
api.unsubscription('sub1');

// Connection state.
api.on('disconnected', (e) => void (e.code + e.reason.length)).on('error', (e) => void e.message);
api.once('connected', () => void 0);
api.off('connecting');
api.onError((e) => void e.code);
const ready: Promise<void> = api.connected();
void ready;
api.start({ skey: 'from-cometa', node: 'https://relay.example.com' });
api.start({ user_id: 'alice', user_key: 'k', shared: false });
const master: boolean = api.isMaster();
void master;
api.start({ token: 'jwt' });

// CppComet's helpers.
const once: number = api.subscription_once<{ n: number }>('web_chat.message', (m) => void m.data.n);
void once;
const sent: boolean = api.multi_web_pipe_send('web_chat', 'message', { text: 'hi' }, 3, 500);
void sent;
api.setLogLevel(9);
const level: number = api.getLogLevel();
void level;
// @ts-expect-error: multi_web_pipe_send stamps an id into its message, so it must be an object
api.multi_web_pipe_send('web_chat', 'message', 'text');
api.start({ getToken: async () => 'jwt', node: 'https://relay.example.com' });
api.start({ getToken: () => 'jwt' });
// @ts-expect-error: getToken gives a token (string), not an object
api.start({ getToken: () => ({ token: 'jwt' }) });
