// livechat - realtime rooms for live chat. SPDX-License-Identifier: MIT
//
// Type declarations of the livechat JavaScript client (livechat.js and the
// modules it re-exports). Field names of server payloads are the wire's
// (snake_case, PROTOCOL.md); the client's own are camelCase.

export declare const WS_PATH: '/api/v1/ws/live-chat';

export type StateName = 'disconnected' | 'connecting' | 'authenticating' | 'connected' | 'reconnecting';
export declare const State: Readonly<{ [K in StateName]: K }>;

export interface UserRef { user_id: string; name: string; }
export interface PresenceEntry extends UserRef { connections: number; }

export interface Sender { type: 'operator' | 'user' | 'system'; id: string; name: string; }

export interface Message {
  id: string;
  room: string;
  seq: number;
  sender: Sender;
  text: string;
  created_at: string;
  client_msg_id?: string;
  /** Left out for text; a kind this client does not know is shown as text. */
  kind?: MessageKind;
  attachment?: Attachment;
}

export type MessageKind = 'text' | 'image' | 'video' | 'audio' | 'file' | 'sticker' | 'location' | (string & {});

/** An image, video, audio or file: `url` (signed, valid for an hour) only while `ready`. */
export interface FileAttachment {
  id: string;
  status: 'pending' | 'ready' | 'failed';
  content_type: string;
  size: number;
  name: string;
  url?: string;
  duration_ms?: number;
}
export interface StickerAttachment { package_id: string; sticker_id: string }
export interface LocationAttachment { title: string; address: string; latitude: number; longitude: number }
export type Attachment = FileAttachment | StickerAttachment | LocationAttachment;

export interface AttachmentUpdate {
  room: string;
  message_id: string;
  seq: number;
  attachment: FileAttachment;
  /** The stored message of the room's view, already updated; null when the room is not joined or it is not loaded. */
  message: Message | null;
}

export interface SessionState {
  status: 'open' | 'claimed' | 'closed';
  claimed_by: UserRef | null;
  updated_at: string;
  version: number;
}

export interface ConversationSummary {
  room: string;
  conversation_id: string;
  last_message: Message | null;
  last_seq: number;
  session: SessionState | null;
  read_seq: number;
  customer?: { id: string; name: string; picture_url?: string };
  /** last_seq - read_seq, never below 0. */
  unread: number;
}

export interface AuthSuccess {
  user_id: string;
  name: string;
  role: 'operator' | 'admin';
  connection_id: string;
  protocol: number;
  heartbeat_interval_ms: number;
  server_time: string;
}

export interface ConversationUpdate {
  room: string;
  conversation_id: string;
  session: SessionState;
  members: UserRef[];
  messages: Message[];
  last_seq: number;
  has_more: boolean;
  epoch: string;
  recovered: boolean;
  read_seq: number;
}

export type PendingState = 'queued' | 'sending';

export interface PendingMessage {
  clientMsgId: string;
  text: string;
  enqueuedAt: number;
  state: PendingState;
}

/** What the client shows of one remembered room. */
export interface RoomView {
  name: string;
  /** The history lineage; '' until the first conversation_update. */
  epoch: string;
  /** The newest seq applied (delivered through 'message'). */
  lastSeq: number;
  /** Confirmed, in seq order, no duplicates (the last maxHistory, plus pages put in front by prependHistory). */
  messages: Message[];
  /** Sent and not confirmed yet, in send order. */
  pending: PendingMessage[];
  session: SessionState | null;
  members: UserRef[];
  /** This user's read position (conversation_update, read_receipt of the user's other tabs, markRead). */
  readSeq: number;
  /** Older messages than `messages[0]` exist on the server (page back with RestClient.history before_seq). */
  hasOlder: boolean;
  loaded: boolean;
}

export type DropReasonName = 'overflow' | 'expired' | 'too_many_retries' | 'too_large' | 'rejected' | 'cancelled';
export declare const DropReason: Readonly<{ [K in DropReasonName]: K }>;

/** The life of a message sent with send(): queued → sending → sent, or failed with a reason at any point. */
export interface MessageStateEvent {
  clientMsgId: string;
  room: string;
  text: string;
  state: 'queued' | 'sending' | 'sent' | 'failed';
  /** failed: why it left the queue. */
  reason?: DropReasonName;
  /** failed with 'rejected': the server's error. */
  error?: { code: string; message: string } | null;
  /** sent: the stored message. */
  message?: Message;
  /** sent: the server already had it (its first acknowledgement was lost). */
  duplicate?: boolean;
  retries?: number;
}

export type ErrorKind =
  | 'server' | 'malformed_frame' | 'callback' | 'transport' | 'invalid_argument' | 'not_connected'
  | 'connect_timeout' | 'heartbeat_timeout' | 'auth_failed' | 'reconnect_exhausted' | 'bad_setting' | 'internal';

export interface ClientError {
  kind: ErrorKind;
  /** The server's code (kind 'server'), e.g. 'rate_limited', 'forbidden'; else a local one or null. */
  code: string | null;
  message: string;
  request_type: string | null;
  field: string | null;
  /** The room of the request the error answers (tied by its ref), when it named one. */
  room: string | null;
}

export interface BackoffSettings {
  /** The upper bound of the first jittered delay (500). */
  baseMs?: number;
  /** No delay exceeds this (20000). */
  capMs?: number;
  /** Growth per failed attempt (2). */
  factor?: number;
  /** Uniform in [0, bound] when true (default), else exactly the bound. */
  jitter?: boolean;
  /** Give up after this many consecutive failed attempts; null: never (default). */
  maxAttempts?: number | null;
  /** A connection that lasted this long resets the attempts (10000). */
  stableAfterMs?: number;
}

export interface QueueSettings {
  maxMessages?: number;  // 100
  maxBytes?: number;     // 256 KiB of UTF-8 text
  maxAgeMs?: number;     // 5 minutes
  maxRetries?: number;   // 3
  overflow?: 'reject_new' | 'drop_oldest';
}

/** A WebSocket constructor: the browser's, or e.g. the ws package's in Node. */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** ws(s)://HOST/api/v1/ws/live-chat, or a function read at each connect; default: this page's host. */
  url?: string | (() => string);
  /** Sent in `auth` on every connect (dev mode: the user id; else a JWT). */
  token?: string;
  /** Default: globalThis.WebSocket. Required in Node < 22. */
  WebSocket?: WebSocketConstructor;
  backoff?: BackoffSettings;
  queue?: QueueSettings;
  /** Connecting + authenticating longer than this → close and reconnect (10000). */
  connectTimeoutMs?: number;
  /** The ping interval until auth_success gives heartbeat_interval_ms (25000). */
  defaultHeartbeatMs?: number;
  /** Overrides the server's heartbeat_interval_ms. */
  heartbeatMs?: number | null;
  /** A ping unanswered this long is missed; default half the heartbeat. */
  pongTimeoutMs?: number | null;
  /** Missed pongs in a row that declare the link dead (2). */
  missedPongsBeforeDead?: number;
  /** Client-side pacing of outgoing frames, below the server's default limit (30 burst, 15/s). */
  sendBurst?: number;
  sendPerSecond?: number;
  /** After a rate_limited, nothing is sent for this long, then at half the pace (1000). */
  rateLimitedPauseMs?: number;
  /** Confirmed messages kept per room (1000). */
  maxHistory?: number;
  /** The client's timer period (100); 0: no timer, call tick() yourself. */
  tickMs?: number;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
  /** Uniform in [0, 1) for the backoff's jitter (default Math.random). */
  random?: () => number;
  /** Default: 32 random hex digits. Must give 1–64 characters. */
  makeClientMsgId?: () => string;
  /**
   * A RestClient turns on the REST fallback: after `fallback.afterFailures` WebSocket attempts in a row
   * that never authenticated, and once REST answers, the client polls the inbox and its rooms
   * (since_seq) and posts its queued messages with their client_msg_id, until the WebSocket is back.
   */
  rest?: RestClient;
  fallback?: { afterFailures?: number; pollMs?: number };
}

export interface ClientEvents {
  state: (e: { from: StateName; to: StateName }) => void;
  /** After every auth_success (each connect). */
  auth: (e: AuthSuccess) => void;
  /** Every room rejoined after a connect; queued messages flow from here. */
  ready: () => void;
  /** Once per seq per room, in seq order: live, recovered on resume, and own messages once stored. */
  message: (m: Message) => void;
  /** The room's history lineage changed: its view was dropped; the new one follows through 'message'. */
  history_reset: (room: string) => void;
  message_state: (e: MessageStateEvent) => void;
  /** Every conversation_update, after its messages went through 'message'. */
  conversation: (e: ConversationUpdate) => void;
  typing: (e: { room: string; user_id: string; name: string; is_typing: boolean }) => void;
  presence: (online: PresenceEntry[]) => void;
  /** A room's session changed (a newer version, by any path). */
  session: (room: string, session: SessionState) => void;
  /** session_claimed / session_released / session_closed as they arrive (for a timeline). */
  session_event: (e: { type: 'claimed' | 'released' | 'closed'; room: string; session: SessionState }) => void;
  read_receipt: (e: { room: string; user_id: string; seq: number }) => void;
  operator_joined: (e: { room: string; user_id: string; name: string }) => void;
  operator_left: (e: { room: string; user_id: string; name: string }) => void;
  /** inbox_update: the conversation list (after watchInbox(true), and on every reconnect while watching). */
  inbox: (conversations: ConversationSummary[]) => void;
  conversation_activity: (e: { room: string; conversation_id: string; last_message: Message; session: SessionState }) => void;
  /** One conversation of the inbox changed (activity, session, read position). */
  summary: (c: ConversationSummary) => void;
  /** A pending attachment became `ready` or `failed` (room members and inbox watchers). */
  attachment_updated: (e: AttachmentUpdate) => void;
  error: (e: ClientError) => void;
  /** The REST fallback started ('rest') or the WebSocket took over again ('websocket'). */
  transport: (mode: 'rest' | 'websocket') => void;
}

export declare const CLIENT_DEFAULTS: Readonly<Required<Omit<ClientOptions, 'url' | 'token' | 'WebSocket' | 'backoff' | 'queue' | 'now' | 'random' | 'makeClientMsgId'>>>;

export declare class LiveChatClient {
  constructor(options?: ClientOptions);

  on<K extends keyof ClientEvents>(type: K, fn: ClientEvents[K]): () => void;
  off<K extends keyof ClientEvents>(type: K, fn: ClientEvents[K]): void;

  /** disconnected → connecting; no-op otherwise. */
  start(): void;
  /** → disconnected (close 1000), no more reconnects; rooms, queue and views are kept. */
  stop(): void;
  /** While reconnecting: the next attempt now. */
  retryNow(): void;
  setToken(token: string): void;
  /** Runs the timers now; needed only with tickMs: 0. */
  tick(): void;

  readonly state: StateName;
  /** 'rest' while the REST fallback carries on, else 'websocket'. */
  readonly transport: 'websocket' | 'rest';
  readonly ready: boolean;
  readonly me: AuthSuccess | null;
  /** Milliseconds until the next reconnect attempt, or null when none is scheduled. */
  readonly reconnectInMs: number | null;
  readonly backoff: Backoff;
  readonly queue: Array<{ room: string; text: string; clientMsgId: string; enqueuedAt: number; retries: number }>;
  readonly online: PresenceEntry[];

  room(name: string): RoomView | null;
  rooms(): string[];
  conversations(): ConversationSummary[];
  unread(room: string): number;

  /** Remembers the room; (re)joined on every connect with since_seq + epoch. False for a bad name. */
  join(room: string): boolean;
  /** Forgets the room (its unsent messages fail as 'cancelled') and leaves it. */
  leave(room: string): void;
  /** Queues a message; returns its client_msg_id, or null when refused (reported as an 'error'). */
  send(room: string, text: string, options?: { clientMsgId?: string; attachmentId?: string }): string | null;
  /** Sends an upload (RestClient.uploadAttachment's id); the text defaults to the file name on the server. */
  sendMessage(room: string, message: { attachmentId?: string; text?: string; clientMsgId?: string }): string | null;
  typing(room: string, on: boolean): void;
  claim(room: string): boolean;
  release(room: string): boolean;
  closeSession(room: string): boolean;
  markRead(room: string, seq: number): void;
  watchInbox(on?: boolean): void;
  /** Older messages (e.g. RestClient.history with before_seq) put in front of the room's view. */
  prependHistory(room: string, messages: Message[], hasMore: boolean): number;
}

export declare function isValidRoom(room: unknown): boolean;
export declare function roomOf(conversationId: string): string;
export declare function trimText(text: string): string;
export declare function utf8Bytes(s: string): number;

export declare const BACKOFF_DEFAULTS: Readonly<Required<BackoffSettings>>;
export declare class Backoff {
  constructor(settings?: BackoffSettings, random?: () => number);
  readonly settings: Readonly<Required<BackoffSettings>>;
  readonly attempts: number;
  bound(n: number): number;
  nextDelay(): number | null;
  reset(): void;
}

export declare const QUEUE_DEFAULTS: Readonly<Required<QueueSettings>>;
export interface QueuedMessage { room: string; text: string; clientMsgId: string; enqueuedAt: number; retries: number; bytes: number; }
export declare class MessageQueue {
  constructor(settings?: QueueSettings, onDrop?: (m: QueuedMessage, reason: DropReasonName, detail?: unknown) => void);
  readonly settings: Readonly<Required<QueueSettings>>;
  readonly size: number;
  readonly bytes: number;
  readonly items: readonly QueuedMessage[];
  find(clientMsgId: string): QueuedMessage | null;
  enqueue(m: { room: string; text: string; clientMsgId: string }, now: number): boolean;
  retry(clientMsgId: string): boolean;
  remove(clientMsgId: string): boolean;
  drop(clientMsgId: string, reason: DropReasonName, detail?: unknown): boolean;
  expire(now: number): number;
}

export declare class RoomHistory {
  constructor(name: string, maxHistory?: number);
  readonly view: RoomView;
  joinOutstanding: boolean;
  filling: boolean;
  joinPayload(): { room: string; since_seq?: number; epoch?: string };
  joinSent(fill?: boolean): void;
  joinAnswered(): boolean;
  connectionLost(): void;
  onLive(m: Message, applied: (m: Message) => void): 'ignored' | 'applied' | 'gap';
  onUpdate(e: ConversationUpdate, wasFill: boolean, reset: () => void, applied: (m: Message) => void): boolean;
  prepend(older: Message[], hasMore: boolean): number;
}

export interface HistoryPage {
  room: string;
  conversation_id: string;
  messages: Message[];
  last_seq: number;
  has_more: boolean;
  epoch: string;
}

export declare class RestError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;
}

/** The REST side: the list, history pages (since_seq / before_seq), posts with a client_msg_id. */
export declare class RestClient {
  constructor(options?: { baseUrl?: string; token?: string; fetch?: typeof fetch; timeoutMs?: number });
  setToken(token: string): void;
  listConversations(query?: { limit?: number; cursor?: string; status?: 'open' | 'claimed' | 'closed'; claimed_by?: string }):
    Promise<{ conversations: Omit<ConversationSummary, 'unread'>[]; next_cursor: string | null }>;
  history(conversationId: string, query?: { since_seq?: number; before_seq?: number; limit?: number }): Promise<HistoryPage>;
  postMessage(conversationId: string, text: string, clientMsgId?: string, attachmentId?: string):
    Promise<{ message: Message; duplicate: boolean }>;
  /**
   * POST /api/v1/attachments?name= with the raw body: the `ready` attachment. Progress through XMLHttpRequest
   * in a browser (once at the end with fetch); `signal` cancels (AbortError); over the limit: RestError 413.
   */
  uploadAttachment(data: Blob | ArrayBuffer | ArrayBufferView, options?: {
    name?: string; contentType?: string; signal?: AbortSignal;
    onProgress?: (p: { loaded: number; total: number }) => void;
  }): Promise<FileAttachment>;
}
