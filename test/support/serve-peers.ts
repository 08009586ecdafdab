/**
 * Clients of browser mode's server for tests and benchmarks: a page's end of the wire protocol
 * (node's `ws`, as a browser would speak it), and a raw TCP WebSocket client that can stop in
 * the middle of a frame, which no well-behaved library will do.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { WebSocket } from 'ws';
import type { CommandName, CommandResult } from '../../src/shared/contract';
import { decodeWire, encodeWire, type ServerMessage } from '../../src/shared/wire';

interface ServerAddress {
  port: number;
  token: string;
}

/** A page: numbered calls, answers matched by id, events counted. */
export class Page {
  private readonly waiting = new Map<number, (result: CommandResult<CommandName>) => void>();
  private nextId = 1;
  /** Answers to frames the server could not read (id -1), in arrival order. */
  readonly unreadable: CommandResult<CommandName>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer) => {
      const message = decodeWire(data.toString('utf8')) as ServerMessage;
      if (message.t !== 'result') return;
      if (message.id === -1) this.unreadable.push(message.result);
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      waiter?.(message.result);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
    );
  }

  static open(server: ServerAddress): Promise<Page> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, {
      origin: `http://127.0.0.1:${server.port}`,
      // A reply to a 4 MiB read is about 5.6 MB of JSON.
      maxPayload: 64 * 1024 * 1024,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Page(ws)));
      ws.once('error', reject);
    });
  }

  /** Sends a call; resolves with its answer (or never, if the page is disconnected first). */
  invoke(command: string, input: unknown): Promise<CommandResult<CommandName>> {
    const id = this.nextId++;
    const answer = new Promise<CommandResult<CommandName>>((resolve) =>
      this.waiting.set(id, resolve),
    );
    this.ws.send(encodeWire({ t: 'call', id, command, input }));
    return answer;
  }

  /** The value of a call that must succeed. */
  async call<T = unknown>(command: string, input: unknown): Promise<T> {
    const result = await this.invoke(command, input);
    if (!result.ok) throw new Error(`${command} failed: ${JSON.stringify(result.error)}`);
    return result.value as T;
  }

  /** The next answer to an unreadable frame. */
  async nextUnreadable(): Promise<CommandResult<CommandName>> {
    const deadline = Date.now() + 20_000;
    while (this.unreadable.length === 0) {
      if (Date.now() > deadline) throw new Error('no answer to the unreadable frame');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.unreadable.shift() as CommandResult<CommandName>;
  }

  /** Closes the socket; one the server has already dropped, or that was paused, too. */
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    // A paused page would never read the server's answer to its close.
    this.ws.resume();
    this.ws.close();
    const gone = setTimeout(() => this.ws.terminate(), 1_000);
    return this.closed.then(() => clearTimeout(gone));
  }
}

/**
 * A WebSocket client on a bare TCP socket: it completes the handshake, then can send the start
 * of a frame and stall, and reports the close frame the server sends it.
 */
export class RawWebSocket {
  /** The server's close frame: its code and reason; null when the socket closed without one. */
  readonly closeFrame: Promise<{ code: number; reason: string } | null>;
  private received = Buffer.alloc(0);
  /** Set once the handshake's answer is consumed: only frames follow. */
  private upgraded = false;

  private constructor(readonly socket: net.Socket) {
    this.closeFrame = new Promise((resolve) => {
      socket.on('data', (data: Buffer) => {
        this.received = Buffer.concat([this.received, data]);
        const frame = this.upgraded ? this.parseCloseFrame() : null;
        if (frame) resolve(frame);
      });
      socket.on('close', () => resolve(this.upgraded ? this.parseCloseFrame() : null));
    });
  }

  static async open(server: ServerAddress): Promise<RawWebSocket> {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      [
        `GET /ws?token=${server.token} HTTP/1.1`,
        `Host: 127.0.0.1:${server.port}`,
        `Origin: http://127.0.0.1:${server.port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        '',
        '',
      ].join('\r\n'),
    );
    const client = new RawWebSocket(socket);
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const text = client.received.toString('latin1');
        if (!text.includes('\r\n\r\n')) return;
        socket.off('data', check);
        if (text.startsWith('HTTP/1.1 101')) resolve();
        else reject(new Error(`upgrade refused: ${text.split('\r\n')[0]}`));
      };
      socket.on('data', check);
    });
    client.received = client.received.subarray(client.received.indexOf('\r\n\r\n') + 4);
    client.upgraded = true;
    return client;
  }

  /**
   * Sends the header of a text frame of `declaredLength` bytes and the first `sentLength` of
   * them (masked, as a client must); resolves once they are handed to the kernel.
   */
  sendFrameStart(declaredLength: number, sentLength: number): Promise<void> {
    const header = Buffer.alloc(14);
    header[0] = 0x81; // FIN, text
    header[1] = 0x80 | 127; // masked, 64-bit length
    header.writeBigUInt64BE(BigInt(declaredLength), 2);
    header.writeUInt32BE(0, 10); // a zero mask leaves the payload as sent
    const payload = Buffer.alloc(sentLength, 0x20);
    return new Promise((resolve) =>
      this.socket.write(Buffer.concat([header, payload]), () => resolve()),
    );
  }

  /** Whether the server has closed or reset the TCP connection. */
  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parseCloseFrame(): { code: number; reason: string } | null {
    const data = this.received;
    for (let at = 0; at + 2 <= data.length;) {
      const opcode = (data[at] as number) & 0x0f;
      let length = (data[at + 1] as number) & 0x7f;
      let start = at + 2;
      if (length === 126) {
        if (start + 2 > data.length) return null;
        length = data.readUInt16BE(start);
        start += 2;
      } else if (length === 127) {
        if (start + 8 > data.length) return null;
        length = Number(data.readBigUInt64BE(start));
        start += 8;
      }
      if (start + length > data.length) return null;
      if (opcode === 0x8) {
        const body = data.subarray(start, start + length);
        return {
          code: body.length >= 2 ? body.readUInt16BE(0) : 1005,
          reason: body.subarray(2).toString('utf8'),
        };
      }
      at = start + length;
    }
    return null;
  }
}
