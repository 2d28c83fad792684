// Types of the mini-program entry (`require('cometa')` in a mini-program after "Build npm";
// `cometa/miniprogram` elsewhere): the same API as the ES module entry, with wx.login as the
// default source of login codes and the module loaded through WXWebAssembly.
import * as base from '../index';

export * from '../index';

export interface MiniProgramConfig {
  loginUrl?: string | null;
  /** Default: wx.login. */
  codeProvider?: base.CodeProvider | null;
  /** Default: a WebSocket over wx.connectSocket (one SocketTask per tunnel). */
  WebSocket?: base.WebSocketConstructor | null;
  /**
   * Package path of the module, read when it loads (first use or `ready()`).
   * Default `/miniprogram_npm/cometa/cometa_sdk_bg.wasm`.
   */
  wasmPath?: string;
  [key: string]: unknown;
}
export function configure(options: MiniProgramConfig): void;

export interface MiniProgramLoginOptions extends base.LoginOptions {
  /** `login` only: `false` skips wx.getUserInfo (then only `X-WX-Code` is sent). */
  userInfo?: boolean;
  /** Passed to wx.getUserInfo. */
  lang?: 'en' | 'zh_CN' | 'zh_TW';
}
type Callbacks = base.LoginCallbacks & ({ success: Function } | { fail: Function } | { complete: Function });
/** Without `code`: wx.login, then wx.getUserInfo → X-WX-Code, X-WX-Encrypted-Data, X-WX-IV (Wafer's `login`). */
export function login(options: MiniProgramLoginOptions & Callbacks): void;
export function login(options?: MiniProgramLoginOptions): Promise<base.UserInfo>;
/** Without `code`: wx.login → X-WX-Code only (Wafer's `loginWithCode`). */
export function loginWithCode(options: MiniProgramLoginOptions & Callbacks): void;
export function loginWithCode(options?: MiniProgramLoginOptions): Promise<base.UserInfo>;

/** Loads the WebAssembly module now (otherwise it loads on first use). */
export function ready(): Promise<void>;
/** `'wx'` in a mini-program, `'browser'` elsewhere. */
export const platform: 'wx' | 'browser';

declare const cometa: typeof base.default & {
  configure: typeof configure;
  login: typeof login;
  loginWithCode: typeof loginWithCode;
  ready: typeof ready;
  platform: typeof platform;
};
export default cometa;
