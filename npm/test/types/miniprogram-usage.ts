// Type-checks the mini-program entry's declarations (tsc --noEmit, see scripts/test-sdk.sh).
import qcloud, { configure, login, loginWithCode, ready, request, Tunnel, platform } from 'cometa/miniprogram';

configure({ loginUrl: 'https://relay.example.com/weapp/login', wasmPath: '/miniprogram_npm/cometa/cometa_sdk_bg.wasm' });
const p: 'wx' | 'browser' = platform;
void p;
async function main(): Promise<void> {
  await ready();
  const me = await login({ lang: 'zh_CN' });
  void me;
  loginWithCode({ success: (u) => void u, fail: (e) => console.error(e.type) });
  login({ userInfo: false, fail: (e) => console.error(e.message) });
  const res = await request<{ data: { openId: string } }>({ url: 'https://relay.example.com/weapp/user', login: true });
  const id: string = res.data.data.openId;
  void id;
  const t = new Tunnel('https://relay.example.com/weapp/tunnel');
  t.on('connect', () => t.emit('hello', { at: Date.now() }));
  t.open();
  qcloud.setLoginUrl('https://relay.example.com/weapp/login');
  await qcloud.ready();
}
void main;
