// Types of `cometa/comet`: CppComet's CometServer API over the Cometa relay.

/** What `start()` takes. Options are merged into those of earlier calls. */
export interface StartOptions {
  /** Kept and returned by `getDevId()`; the relay is single-tenant. */
  dev_id?: number | string;
  /** With `user_key`: authenticate; without: an anonymous connection. */
  user_id?: number | string;
  /** The key your back end registered with `PUT /api/v1/users/{id}/key`. */
  user_key?: string;
  /** Instead of `user_key`: a JWT for the relay's `--jwt-secret`. */
  token?: string;
  /** Instead of `user_key`: the session of a `cometa` login (`Session.get().skey`). */
  skey?: string;
  /**
   * centrifuge-js's refresh: called for the first `token` when none is given, and again when the
   * relay refuses the token (it expired); the connection then restarts with the new one. After
   * three refusals in a row, or when it fails, the connection stops with an `error` 4004.
   */
  getToken?: () => string | Promise<string>;
  /**
   * The relay: `https://host`, `host:port`, or `wss://host/connect`. Required unless the relay
   * serves the page: the default is the page's own origin.
   */
  node?: string;
  /** A WebSocket constructor (Node has none: pass `ws`'s). Default: `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => unknown;
  /**
   * Default `true`: the tabs of this origin that start for the same relay and user share one
   * connection, run by the tab for which `isMaster()` is true (Web Locks elect it,
   * BroadcastChannel carries the rest). `false`, or a browser without Web Locks or
   * BroadcastChannel, or Node: a connection of this object's own.
   */
  shared?: boolean;
  /**
   * Default `true`: every `web_pipe_send` carries an idempotency key and is kept until the
   * relay answers it: sent again on the next connection, and stored in `localStorage` (wx
   * storage in a mini-program; memory in Node) per relay and user, so calls made offline are
   * sent after a reload. The relay stores a resend once. With `shared`, the master tab's list
   * holds the publishes the other tabs forwarded to it. `false`: kept in memory while offline
   * only, and one whose connection dropped before the answer is reported with error 3004.
   */
  persist?: boolean;
}

export interface ServerInfo {
  /** The sender as authenticated by the relay; 0 for the back end and anonymous senders. */
  user_id: string | 0;
  /** The channel (`msg` for personal messages). */
  pipe: string;
  event: string;
  /** True for entries of `get_pipe_log`. */
  history: boolean;
  /** `<epoch>:<seq>`: the same stored message has the same uuid everywhere. Absent on live-only messages. */
  uuid?: string;
  /** The message's position in its stream. Absent on live-only messages (track_ subscription/unsubscription, user_status_). */
  seq?: number;
}

/** The argument of every subscription callback. */
export interface CometMessage<T = unknown> {
  data: T;
  server_info: ServerInfo;
}

export interface CometError {
  code: number;
  message: string;
}

/** The argument of a query callback: `data`, or `data: null` and `error`. */
export interface CometAnswer<T> {
  data: T | null;
  error?: CometError;
  server_info: { pipe: string };
}

/** `getUserData`'s answer, CppComet's shape. */
export interface UserData<Id = string | number> {
  user_id: Id;
  /** The stored JSON object as text (`JSON.parse` it); `""` when there is none. */
  user_data: string;
}

/** `"#pipe"` subscribers: the relay's answer to a `web_pipe_send` to `pipe`. */
export type DeliveryReport = CometMessage<{ seq?: number | null; error?: CometError }>;

/** `"sys.recovery"` subscribers: a stream could not be resumed and messages were lost. */
export type RecoveryNotice = CometMessage<{ pipe: string; recovered: false; seq: number; epoch: string }>;

/** `connecting`/`disconnected`: why the state changed (a close code, or 0 when the client moved). */
export interface StateChange {
  code: number;
  reason: string;
}

export interface CometEvents {
  connecting: StateChange;
  connected: StateChange;
  disconnected: StateChange;
  error: CometError;
}

export class CometApi {
  /** Connection state and errors; handlers run in a microtask. */
  on<K extends keyof CometEvents>(event: K, handler: (arg: CometEvents[K]) => void): this;
  /** Without `handler`: every handler of `event`. */
  off<K extends keyof CometEvents>(event: K, handler?: (arg: CometEvents[K]) => void): this;
  once<K extends keyof CometEvents>(event: K, handler: (arg: CometEvents[K]) => void): this;
  onConnecting(callback: (arg: StateChange) => void): void;
  onConnected(callback: (arg: StateChange) => void): void;
  onDisconnected(callback: (arg: StateChange) => void): void;
  onError(callback: (arg: CometError) => void): void;
  /** The next connection (at once when connected); rejects with a `StateChange` when the session stops instead. */
  connected(): Promise<void>;
  constructor();
  /** Connects (again, if running); `callback` runs once the first socket is open. Returns true. */
  start(options?: StartOptions, callback?: () => void): boolean;
  /** Closes the connection; subscriptions stay for the next `start`/`restart`. */
  stop(): void;
  /** Reconnects at once, merging `options` in when given. */
  restart(options?: StartOptions): boolean;
  /**
   * `"web_chat"`, `"web_chat.message"`, `"msg"`, `"msg.invoice"`, `"#web_chat"` (delivery reports), `""` (all),
   * `"sys.recovery"`; or a function alone for everything. Returns the id for `unsubscription`.
   */
  subscription<T = unknown>(name: string, callback?: (msg: CometMessage<T>) => void): number;
  subscription<T = unknown>(callback: (msg: CometMessage<T>) => void): number;
  /** CppComet's: `callback` gets the first message of `name`, then the subscription ends. Returns the id for an earlier `unsubscription`. */
  subscription_once<T = unknown>(name: string, callback: (msg: CometMessage<T>) => void): number;
  unsubscription(id: number): boolean;
  unsubscriptionAll(): void;
  /** Publishes on a `web_*`/`@web_*`/`webauth_*` pipe; queued while offline. Throws if `msg` is not JSON-encodable. */
  web_pipe_send(pipe: string, event: string, msg: unknown): boolean;
  web_pipe_send(pipeDotEvent: string, msg: unknown): boolean;
  /**
   * CppComet's: `web_pipe_send(pipe, event, msg)` `count` times (default 3), `interval` ms apart
   * (default 1000), each copy with one `_cometApi_uuid`: every subscription callback handles it at most once.
   */
  multi_web_pipe_send(pipe: string, event: string, msg: object, count?: number, interval?: number): boolean;
  /** CppComet's: 0 quiet; above 0 state changes and errors go to the console; from 9 each message's pipe and event. Per instance; the last one set is kept in localStorage (`comet_LogLevel`) and new instances start with it. */
  setLogLevel(level: number): void;
  getLogLevel(): number;
  /** Kept messages of `pipe`, oldest first, one call each (without a callback: to the pipe's subscribers). */
  get_pipe_log<T = unknown>(pipe: string, callback?: (msg: CometMessage<T> | CometAnswer<null>) => void): boolean;
  count_users_in_pipe(pipe: string, callback: (answer: CometAnswer<{ user_in_pipe: number }>) => void): boolean;
  /** Authenticated members of a `track_*` pipe. */
  getTrackPipeUsers(pipe: string, callback: (answer: CometAnswer<string[]>) => void): boolean;
  /**
   * CppComet's answer: `data.user_data` is the JSON the back end set for the user (`PUT /api/v1/users/{id}/data`
   * or CometQL's `users_data`) as text, `""` if none; `data.user_id` the id asked for.
   */
  getUserData<Id extends string | number>(userId: Id, callback: (answer: CometAnswer<UserData<Id>>) => void): boolean;
  /** After every successful `auth` (each connection). */
  onAuthSuccess(callback: (answer: CometAnswer<{ user_id: string; device: string }>) => void): void;
  /** CppComet's spelling. After a refused `auth`, and when the relay ends the session. */
  onAuthFalill(callback: (answer: CometAnswer<null>) => void): void;
  isAuthorized(): boolean;
  isConnected(): boolean;
  getUserId(): number | string | undefined;
  getUserKey(): string | undefined;
  getDevId(): number | string | undefined;
  /** The persistent device id (localStorage). */
  getUUID(): string;
  /** This page load's id. */
  getTabUUID(): string;
  /** True in the one tab that runs the connection its tabs share (always, without sharing). */
  isMaster(): boolean;
  free(): void;
}

/** Resolves once the WebAssembly module is loaded; optional (calls made before are queued). */
export function ready(): Promise<void>;

/** As in `cometa`: the WebSocket implementation `start()` uses unless its options name one. */
export function configure(options: { WebSocket?: (new (url: string) => unknown) | null }): void;

/** The page's shared `CometApi`, as CppComet's `CometServer()`. */
export function CometServer(): CometApi;
export default CometServer;
