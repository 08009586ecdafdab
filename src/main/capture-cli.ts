/**
 * `socket-workbench capture FOLDER [--endpoint ID [--direction in|out]] [--json]`: reads a capture
 * folder without the app. Without --endpoint it lists the session(s) and their endpoints; with it,
 * it writes that endpoint's kept bytes, in stream order, to stdout.
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { formatByteSize } from '../shared/byte-size';
import { CaptureFolderReader, findSessions, type CapturedEndpoint } from './engine/capture-reader';

const usage = `Usage:
  socket-workbench capture FOLDER                      list the endpoints of a capture session
  socket-workbench capture FOLDER --json               the same, as JSON
  socket-workbench capture FOLDER --endpoint ID [--direction in|out] > FILE
                                                       write one endpoint's bytes to stdout
FOLDER is a session folder (it holds session.json) or the capture directory holding one or more.`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        endpoint: { type: 'string' },
        direction: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1) return fail(usage);
  const direction = values.direction;
  if (direction !== undefined && direction !== 'in' && direction !== 'out') {
    return fail(`--direction must be "in" or "out", not "${direction}"`);
  }
  if (direction !== undefined && values.endpoint === undefined) {
    return fail('--direction needs --endpoint');
  }

  let sessions: string[];
  try {
    sessions = findSessions(positionals[0] as string);
  } catch (error) {
    return fail((error as Error).message);
  }
  if (sessions.length === 0) {
    return fail(`${positionals[0]} holds no capture session (no session.json found)`);
  }

  if (values.endpoint !== undefined) {
    if (sessions.length > 1) {
      return fail(
        `${positionals[0]} holds ${sessions.length} sessions; name one of them:\n` +
          sessions.map((session) => `  ${session}`).join('\n'),
      );
    }
    return writeEndpoint(sessions[0] as string, values.endpoint, direction);
  }

  const listed = sessions.map((folder) => {
    const reader = new CaptureFolderReader(folder);
    return {
      folder,
      session: reader.session,
      endpoints: reader.endpoints(),
      warnings: reader.warnings,
    };
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    return 0;
  }
  for (const { folder, session, endpoints, warnings } of listed) {
    const ending = session?.stoppedAt
      ? `stopped cleanly ${session.stoppedAt}`
      : session?.incompleteStopAt
        ? `stopped ${session.incompleteStopAt} while the disk could not take everything: bytes are missing`
        : 'not stopped cleanly (still running, or killed): its last moments may be missing';
    process.stdout.write(`${folder}\n  started ${session?.startedAt}, ${ending}\n`);
    for (const endpoint of endpoints) process.stdout.write(`  ${describeEndpoint(endpoint)}\n`);
    for (const warning of warnings) process.stdout.write(`  warning: ${warning}\n`);
  }
  return 0;
}

function describeEndpoint(endpoint: CapturedEndpoint): string {
  const d = endpoint.description;
  const where = [d['local'], d['remote']].filter(Boolean).map(formatAddress).join(' -> ');
  const gone =
    endpoint.keptFrom !== null && endpoint.keptFrom > 0
      ? `, first ${formatByteSize(endpoint.keptFrom)} gone (capture limit)`
      : '';
  const missing = endpoint.missingChunks > 0 ? `, ${endpoint.missingChunks} chunks missing` : '';
  return (
    `${d.id.padEnd(10)} ${String(d['kind']).padEnd(16)} ${String(d['state']).padEnd(19)} ` +
    `${where}  in ${endpoint.bytesIn} B, out ${endpoint.bytesOut} B, ${endpoint.chunks} chunks` +
    gone +
    missing
  );
}

function formatAddress(address: unknown): string {
  if (!address || typeof address !== 'object') return '?';
  const a = address as { host?: string; port?: number; path?: string };
  if (a.path !== undefined) return a.path;
  return a.host?.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

async function writeEndpoint(
  folder: string,
  id: string,
  direction: 'in' | 'out' | undefined,
): Promise<number> {
  let chunks;
  try {
    chunks = new CaptureFolderReader(folder).chunks(id, direction);
    for (const chunk of chunks) {
      if (!process.stdout.write(chunk.bytes)) await once(process.stdout, 'drain');
    }
  } catch (error) {
    return fail((error as Error).message);
  }
  return 0;
}

function fail(message: string): number {
  process.stderr.write(`socket-workbench capture: ${message}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`socket-workbench capture: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
