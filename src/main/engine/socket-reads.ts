/**
 * Stream sockets read into one shared buffer (node:net's `onread` option) instead of a new
 * buffer per read: the capture copies each read into its slabs at once (read-slabs.ts), so no
 * allocation per read is left for V8's garbage collector to chase at a gigabyte a second.
 *
 * One buffer serves every socket: Node hands a read to its callback before it reads the next
 * socket, and the callback copies it before returning.
 */
import net from 'node:net';

/** A socket read is at most 64 KiB in libuv; a larger buffer would only sit idle. */
const READ_BYTES = 64 * 1024;
const sharedBuffer = new Uint8Array(READ_BYTES);

/** Receives each read; the bytes are valid only until it returns. */
export type ReadHandler = (this: net.Socket, bytes: Uint8Array) => void;

/** The `onread` option for a socket whose reads go to `handler`. */
export function sharedReads(handler: ReadHandler): net.OnReadOpts {
  return {
    buffer: sharedBuffer,
    // Node calls it on the socket (lib/internal/stream_base_commons.js); one function for all.
    callback(this: unknown, length: number, buffer: Uint8Array): boolean {
      handler.call(this as net.Socket, buffer.subarray(0, length));
      return true;
    },
  };
}

/** Accepted sockets left to Node's own reads (the fallback below): they read through 'data'. */
const readThroughDataEvents = new WeakSet<net.Socket>();

/**
 * Whether a socket's reads come as 'data' events rather than through `onread`. A socket that
 * uses `onread` must not get a 'data' listener: adding one resumes the stream, and a socket
 * paused while still connecting would then start reading once connected.
 */
export function readsThroughDataEvents(socket: net.Socket): boolean {
  return readThroughDataEvents.has(socket);
}

/** The fields of node:net's Socket that moving a handle to a new Socket touches. */
interface SocketInternals {
  _handle?: unknown;
  _server?: net.Server | null;
  server?: net.Server | null;
}

/**
 * A connection the server accepted, read through `reads`. node:net offers `onread` only when a
 * Socket is made, and the server makes it: so the server pauses what it accepts
 * (`pauseOnConnect`) and the accepted handle moves to a new Socket made with `onread`, counted
 * by the server in the old one's place. Where a Node version lacks the fields this needs, the
 * socket it gave is used as it is, read the usual way, with its 'data' events.
 */
export function withSharedReads(
  accepted: net.Socket,
  server: net.Server,
  options: { allowHalfOpen: boolean; reads: net.OnReadOpts },
): net.Socket {
  const old = accepted as net.Socket & SocketInternals;
  const handle = old._handle;
  if (!handle || old._server !== server || old.destroyed) {
    readThroughDataEvents.add(accepted);
    accepted.resume();
    return accepted;
  }
  old._handle = null;
  old._server = null;
  const socket = new net.Socket({
    handle,
    allowHalfOpen: options.allowHalfOpen,
    onread: options.reads,
  } as net.SocketConstructorOpts) as net.Socket & SocketInternals;
  // Closing it tells the server a connection went, as the old one would have.
  socket._server = server;
  socket.server = server;
  return socket;
}
