// Browser-mode pages in their own process, for bench/serve-fairness.ts. Plain JavaScript and
// node's `ws`, so it starts fast and its work never shares an event loop with the server's.
//
//   node serve-clients.mjs --port P --token T probe --count N
//       one page sends engine.status N times, one after the other; prints
//       {"waitsMs":[...]} (each call's round trip, as this process saw it)
//   node serve-clients.mjs --port P --token T read --clients C --id ID --length L
//       C pages each read L bytes of endpoint ID's capture with capture.read, again and again;
//       prints {"reading":C} once every page has had one answer, and {"reads":n,"bytes":b}
//       (answers since then) when stdin closes, then leaves
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    token: { type: 'string' },
    count: { type: 'string', default: '300' },
    clients: { type: 'string', default: '5' },
    id: { type: 'string' },
    length: { type: 'string', default: String(4 * 1024 * 1024) },
  },
});
const mode = positionals[0];
const port = Number(values.port);
if (!(port > 0) || !values.token || (mode !== 'probe' && mode !== 'read')) {
  process.stderr.write('usage: node serve-clients.mjs --port P --token T (probe | read) ...\n');
  process.exit(2);
}

function openPage() {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${values.token}`, {
    origin: `http://127.0.0.1:${port}`,
    maxPayload: 64 * 1024 * 1024,
    perMessageDeflate: false,
  });
  const waiting = new Map();
  let nextId = 1;
  ws.on('message', (data) => {
    // Only the head is parsed: a reply to a read is 5.6 MB, and decoding it here would only
    // slow this process down, not the server.
    const head = data.subarray(0, 64).toString('latin1');
    const match = /^\{"t":"result","id":(\d+),"result":\{"ok":(true|false)/.exec(head);
    if (!match) return;
    const resolve = waiting.get(Number(match[1]));
    waiting.delete(Number(match[1]));
    resolve?.({ ok: match[2] === 'true', size: data.length, text: head });
  });
  const call = (command, input) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ t: 'call', id, command, input }));
    });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, call }));
    ws.once('error', reject);
  });
}

if (mode === 'probe') {
  const page = await openPage();
  const waitsMs = [];
  for (let i = 0; i < Number(values.count); i++) {
    const start = performance.now();
    const answer = await page.call('engine.status', {});
    waitsMs.push(performance.now() - start);
    if (!answer.ok) throw new Error(`engine.status failed: ${answer.text}`);
    // A page asks now and then, not back to back: leave the readers a turn.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  process.stdout.write(`${JSON.stringify({ waitsMs })}\n`);
  page.ws.close();
} else {
  const pages = await Promise.all(Array.from({ length: Number(values.clients) }, openPage));
  let stopping = false;
  let reads = 0;
  let bytes = 0;
  let warm = 0;
  const loops = pages.map(async (page) => {
    let first = true;
    while (!stopping) {
      const answer = await page.call('capture.read', {
        id: values.id,
        offset: 0,
        length: Number(values.length),
      });
      if (!answer.ok) throw new Error(`capture.read failed: ${answer.text}`);
      reads += 1;
      bytes += answer.size;
      if (first) {
        first = false;
        warm += 1;
        if (warm === pages.length) {
          // Counted from here: every page is reading.
          reads = 0;
          bytes = 0;
          process.stdout.write(`${JSON.stringify({ reading: warm })}\n`);
        }
      }
    }
  });
  process.stdin.resume();
  process.stdin.on('end', async () => {
    stopping = true;
    await Promise.all(loops);
    process.stdout.write(`${JSON.stringify({ reads, bytes })}\n`);
    for (const page of pages) page.ws.close();
    process.exit(0);
  });
}
