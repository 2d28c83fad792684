// Compiled with `tsc --noEmit` by the test suite: the declarations must accept real usage
// and reject misuse (the @ts-expect-error lines fail the build if they stop being errors).
import cometa, { login, request, Tunnel, Session, RequestError, setCodeProvider, setTokenProvider, configure, ERR_INVALID_PARAMS } from 'cometa';
import type { RequestResult, TunnelError, UserInfo } from 'cometa';

setCodeProvider(async () => 'code');
configure({ loginUrl: 'https://relay.example.com/weapp/login', WebSocket: class { constructor(_url: string) {} } });
configure({ getToken: async () => 'jwt', extendedAuth: { headers: { 'X-Site': 's', 'X-N': 1 }, tunnel: { widget: 'w' } }, credentials: 'include' });
configure({ extendedAuth: null, credentials: null, getToken: null });
setTokenProvider(() => '');
setTokenProvider(null);
// @ts-expect-error credentials is fetch's mode
configure({ credentials: 'always' });

async function promises(): Promise<void> {
  const user: UserInfo = await login();
  const res: RequestResult<{ code: number }> = await request<{ code: number }>({ url: '/weapp/user', login: true });
  const n: number = res.data.code + res.statusCode;
  void user;
  void n;
  const s = Session.get();
  if (s) s.skey.toUpperCase();
  const ends: number | undefined = s?.expires_at;
  void ends;
  await login({ username: 'bob', password: 'pw', rememberMe: false });
  await login({ token: 'jwt' });
  await login({ anonymous: true });
  await login().catch((e: RequestError) => e.terminal === true);
}

function callbacks(): void {
  const nothing: void = request({
    url: '/weapp/user',
    method: 'POST',
    data: { a: 1 },
    success: (r) => r.header['content-type'],
    fail: (e) => e.type === ERR_INVALID_PARAMS,
  });
  void nothing;
  cometa.loginWithCode({ code: 'x', success: (u) => void u, fail: (e: RequestError) => void e.type });
}

const t = new Tunnel('https://relay.example.com/weapp/tunnel', { backoffCapMs: 5000 });
t.on('connect', () => t.emit('hello', { n: 1 }));
t.on('error', (e: TunnelError) => e.code === Tunnel.ERR_RECONNECT);
t.on('*', (type, payload) => [type, payload]);
t.on('chat', (content) => content);
t.open();
const st: 'CLOSED' | 'CONNECTING' | 'ACTIVE' | 'RECONNECTING' = t.status;
Tunnel.MAX_RECONNECT_TRY_TIMES = 5;
const url: string | null = t.socketUrl;

// @ts-expect-error url is required
request({});
// @ts-expect-error emit needs a string type
t.emit(5);
// @ts-expect-error status is read-only
t.status = 'ACTIVE';

void [promises, callbacks, st, url];

// Generic payloads: the caller declares the shape; unknown otherwise.
interface Me {
  nickName: string;
}
async function generics(): Promise<void> {
  const me = await login<Me>();
  const nick: string = me.nickName;
  const r = await request({ url: '/weapp/user' });
  // @ts-expect-error an undeclared body is unknown
  void r.data.code;
  t.on<{ text: string }>('chat', (c) => void c.text.length);
  // @ts-expect-error an undeclared message content is unknown
  t.on('chat', (c) => void c.text);
  t.once('connect', () => void 0);
  t.off('chat');
  void nick;
}
void generics;
