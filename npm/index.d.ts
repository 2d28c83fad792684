// Types of the `cometa` package: the API of Wafer's wafer2-client-sdk 2.1.0 for browsers and
// Node ≥ 20, plus `setCodeProvider`, `setTokenProvider`, `configure`, more ways to log in,
// session renewal and Promise returns.

/** What a server-side session holds for the logged-in user (shape decided by the back end). */
export type UserInfo = Record<string, unknown>;

/** The stored login session, as `/weapp/login` answered it. */
export interface SessionData {
  skey: string;
  userinfo: UserInfo;
  time?: number;
  /** Unix seconds; the SDK renews the session before it (POST /weapp/refresh). */
  expires_at?: number;
  /** `false` for a short session (`rememberMe: false`). */
  remember?: boolean;
  [key: string]: unknown;
}

/** Error raised by `login`, `request` and argument checks; `type` is one of the `ERR_*` values. */
export class RequestError extends Error {
  constructor(type: string, message: string);
  type: string;
  /** Set on network failures, like wx.request's `request:fail …`. */
  errMsg?: string;
  /** Set on login failures that logging in again cannot fix without new credentials. */
  terminal?: boolean;
}

export const ERR_INVALID_PARAMS: 'ERR_INVALID_PARAMS';
/** A login could not get its credentials: the code provider or getToken failed or gave nothing, or there was no way to log in. */
export const ERR_CREDENTIALS_FAILED: 'ERR_CREDENTIALS_FAILED';
/** Wafer's name for the same error, kept for Wafer code (a page has no wx.login). */
export const ERR_WX_LOGIN_FAILED: 'ERR_CREDENTIALS_FAILED';
export const ERR_WX_GET_USER_INFO: 'ERR_WX_GET_USER_INFO';
export const ERR_LOGIN_TIMEOUT: 'ERR_LOGIN_TIMEOUT';
export const ERR_LOGIN_FAILED: 'ERR_LOGIN_FAILED';
export const ERR_LOGIN_SESSION_NOT_RECEIVED: 'ERR_LOGIN_MISSING_SESSION';
export const ERR_SESSION_INVALID: 'ERR_SESSION_INVALID';
export const ERR_CHECK_LOGIN_FAILED: 'ERR_CHECK_LOGIN_FAILED';
/** Not in Wafer: the HTTP exchange itself failed (network, CORS, timeout). */
export const ERR_REQUEST_FAILED: 'ERR_REQUEST_FAILED';

/** Returns (a Promise of) a single-use login code obtained by your back end. */
export type CodeProvider = () => string | PromiseLike<string>;

/**
 * Returns (a Promise of) a JWT for the relay's `--jwt-secret`; `''` (or `null`) means there is
 * nobody to log in and ends the session, throwing is a transient failure.
 */
export type TokenProvider = () => string | null | undefined | PromiseLike<string | null | undefined>;

/** Credentials of the site's own, sent by the SDK (delegated auth). */
export interface ExtendedAuth {
  /** Added to every SDK request (login, request, the tunnel handshake); the caller's and the SDK's own headers win. */
  headers?: Record<string, string | number | boolean>;
  /** Sent as the query of the tunnel handshake (`GET serviceUrl?…`). */
  tunnel?: Record<string, unknown>;
}

export interface ConfigureOptions {
  WebSocket?: WebSocketConstructor | null;
  codeProvider?: CodeProvider | null;
  /** Same as `setTokenProvider`. */
  getToken?: TokenProvider | null;
  loginUrl?: string | null;
  /** `null` removes it. */
  extendedAuth?: ExtendedAuth | null;
  /** fetch's credentials mode for every SDK request; default (and `null`): `'same-origin'`. A visitor's login always sends `'include'`. */
  credentials?: 'omit' | 'same-origin' | 'include' | null;
}

/** A WebSocket constructor following the browser API (the `ws` package's in Node). */
export type WebSocketConstructor = new (url: string) => unknown;

/**
 * Resolves once the WebAssembly module is loaded. Optional: every call loads it too (calls
 * made before are queued in order). In Node it is loaded at import.
 */
export function ready(): Promise<void>;

export function setLoginUrl(url: string | null): void;
export function setCodeProvider(provider: CodeProvider | null): void;
export function setTokenProvider(provider: TokenProvider | null): void;
export function configure(options: ConfigureOptions): void;

export interface LoginOptions {
  /** Defaults to the URL given to `setLoginUrl`. */
  loginUrl?: string;
  /** HTTP method, default `GET`. */
  method?: string;
  /** The login code. Without any credential below, `getToken`, then the code provider is asked, then the last way is reused for a visitor, then the `extendedAuth` headers alone are sent. */
  code?: string;
  /** A JWT, sent as `Authorization: Bearer`. */
  token?: string;
  /** A password account: `{username, password}` POSTed as JSON. */
  username?: string;
  password?: string;
  /** A visitor: no credentials, the `cometa_visitor` cookie (sent with `credentials: 'include'`). */
  anonymous?: boolean;
  /** `false`: a short session (`X-WX-Remember: 0`). */
  rememberMe?: boolean;
  /** `login` only: sent as `X-WX-Encrypted-Data` / `X-WX-IV` when given. */
  encryptedData?: string;
  iv?: string;
}
/** `U`: the userinfo shape your back end gives (not checked at run time). */
export interface LoginCallbacks<U = UserInfo> {
  success?: (userinfo: U) => void;
  fail?: (error: RequestError) => void;
  complete?: (result: U | RequestError) => void;
}

/** Logs in and stores the session; callbacks when given, else a Promise of the userinfo. */
export function login<U = UserInfo>(options: LoginOptions & LoginCallbacks<U> & ({ success: Function } | { fail: Function } | { complete: Function })): void;
export function login<U = UserInfo>(options?: LoginOptions): Promise<U>;
export function loginWithCode<U = UserInfo>(options: LoginOptions & LoginCallbacks<U> & ({ success: Function } | { fail: Function } | { complete: Function })): void;
export function loginWithCode<U = UserInfo>(options?: LoginOptions): Promise<U>;

/** What `request` succeeds with, like wx.request: every HTTP status is a success. */
export interface RequestResult<T = unknown> {
  data: T;
  statusCode: number;
  header: Record<string, string>;
}

export interface RequestOptions {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS' | 'PATCH' | (string & {});
  /** Query string for GET/HEAD; body otherwise (JSON unless a form content-type is set). */
  data?: unknown;
  header?: Record<string, string | number | boolean>;
  /** Log in before the request. */
  login?: boolean;
  /** `'json'` (default) parses the body when it is JSON; anything else keeps the text. */
  dataType?: string;
  responseType?: 'text' | 'arraybuffer';
  /** Milliseconds; no limit by default. */
  timeout?: number;
}
export interface RequestCallbacks<T = unknown> {
  success?: (result: RequestResult<T>) => void;
  fail?: (error: RequestError) => void;
  complete?: (result: RequestResult<T> | RequestError) => void;
}

/**
 * wx.request with the session: sends `X-WX-Skey`; when the server answers 401 or
 * `{code: -1}` the session is cleared, a new login is made once and the request retried once.
 */
export function request<T = unknown>(options: RequestOptions & RequestCallbacks<T> & ({ success: Function } | { fail: Function } | { complete: Function })): void;
export function request<T = unknown>(options: RequestOptions): Promise<RequestResult<T>>;

export class Session {
  private constructor();
  static get(): SessionData | null;
  static set(session: SessionData | null): void;
  static clear(): void;
}
export function clearSession(): void;

export type TunnelStatus = 'CLOSED' | 'CONNECTING' | 'ACTIVE' | 'RECONNECTING';

export interface TunnelError {
  /** `Tunnel.ERR_*`, 3002/3003, a terminal close code from the relay, or 4502 when the session ended (its renewal was refused). */
  code: number;
  message: string;
}

export interface TunnelOptions {
  /** WebSocket constructor for this tunnel; default: `configure`'s, then `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Give up after this many failed tries (error 2001). Default: retry forever. */
  maxReconnectTries?: number;
  /** First backoff window in ms (doubles per try, full jitter). Default 1000. */
  backoffBaseMs?: number;
  /** Largest backoff window in ms. Default 30000. */
  backoffCapMs?: number;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  /** Limit on fetching the connect URL and on opening the socket. Default 15000. */
  connectTimeoutMs?: number;
  /** Messages kept while not connected (with `persist`: kept until the relay answered). Default 1000. */
  maxOutbox?: number;
  /**
   * Default true: every emit carries a key and is kept until the relay answers it — sent again
   * after a lost connection, and from storage (`localStorage`, wx storage) after a reload; the
   * relay hands each key to the back end once. `false`: Wafer's behaviour (lost on a lost
   * connection, gone on a reload).
   */
  persist?: boolean;
}

export class Tunnel {
  constructor(serviceUrl: string, options?: TunnelOptions);
  readonly serviceUrl: string;
  /** The last connect URL received, `null` before the first. */
  readonly socketUrl: string | null;
  readonly status: TunnelStatus;
  /** The `persist` option in effect. */
  readonly persist: boolean;
  open(): void;
  close(): void;
  /** Queued until the tunnel is active. */
  /**
   * Sends `{type, content}` (queued until active). Resolves once the relay has taken it;
   * rejects with a `TunnelError` (`code` 4008: nobody can receive it — the relay has no
   * webhook; 4006: its webhook queue is full; 3004: the connection was closed (or, without
   * `persist`, lost) before the answer, it may have been taken; 3003: dropped from the full outbox). Ignoring the Promise
   * is fine: it never reports an unhandled rejection. `ack`: the same outcome, Node-style.
   */
  emit(type: string, content?: unknown, ack?: (error: (Error & TunnelError) | null) => void): Promise<void>;
  on(type: 'connect' | 'close' | 'reconnecting' | 'reconnect', handler: () => void): void;
  on(type: 'error', handler: (error: TunnelError) => void): void;
  on(type: '*', handler: (type: string, payload: unknown) => void): void;
  /** A message type; server types that collide with the names above arrive as `@name`. */
  /** `T`: the content's shape, as the server sends it (not checked). */
  on<T = unknown>(type: string, handler: (content: T) => void): void;
  /** Removes `handler` (or, without it, every handler of `type`): for components that unmount. */
  off(type: string, handler?: (...args: never[]) => void): void;
  /** `on` for the next event of `type` only. */
  once(type: 'connect' | 'close' | 'reconnecting' | 'reconnect', handler: () => void): void;
  once(type: 'error', handler: (error: TunnelError) => void): void;
  once<T = unknown>(type: string, handler: (content: T) => void): void;
  isActive(): boolean;
  isClosed(): boolean;
  isConnecting(): boolean;
  isReconnecting(): boolean;

  static readonly STATUS_CLOSED: 'CLOSED';
  static readonly STATUS_CONNECTING: 'CONNECTING';
  static readonly STATUS_ACTIVE: 'ACTIVE';
  static readonly STATUS_RECONNECTING: 'RECONNECTING';
  static readonly ERR_CONNECT_SERVICE: 1001;
  static readonly ERR_CONNECT_SOCKET: 1002;
  static readonly ERR_RECONNECT: 2001;
  static readonly ERR_SOCKET_ERROR: 3001;
  /** Unset: retry forever. A positive number applies to tunnels constructed afterwards. */
  static MAX_RECONNECT_TRY_TIMES: number | undefined;
  /** Base of the reconnect backoff in ms (Wafer's linear step). */
  static RECONNECT_TIME_INCREASE: number | undefined;
}

declare const cometa: {
  ready: typeof ready;
  setLoginUrl: typeof setLoginUrl;
  setCodeProvider: typeof setCodeProvider;
  setTokenProvider: typeof setTokenProvider;
  configure: typeof configure;
  login: typeof login;
  loginWithCode: typeof loginWithCode;
  request: typeof request;
  Session: typeof Session;
  clearSession: typeof clearSession;
  Tunnel: typeof Tunnel;
  RequestError: typeof RequestError;
  ERR_INVALID_PARAMS: typeof ERR_INVALID_PARAMS;
  ERR_WX_LOGIN_FAILED: typeof ERR_WX_LOGIN_FAILED;
  ERR_CREDENTIALS_FAILED: typeof ERR_CREDENTIALS_FAILED;
  ERR_WX_GET_USER_INFO: typeof ERR_WX_GET_USER_INFO;
  ERR_LOGIN_TIMEOUT: typeof ERR_LOGIN_TIMEOUT;
  ERR_LOGIN_FAILED: typeof ERR_LOGIN_FAILED;
  ERR_LOGIN_SESSION_NOT_RECEIVED: typeof ERR_LOGIN_SESSION_NOT_RECEIVED;
  ERR_SESSION_INVALID: typeof ERR_SESSION_INVALID;
  ERR_CHECK_LOGIN_FAILED: typeof ERR_CHECK_LOGIN_FAILED;
  ERR_REQUEST_FAILED: typeof ERR_REQUEST_FAILED;
};
export default cometa;
