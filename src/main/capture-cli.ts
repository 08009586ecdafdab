/**
 * `socket-workbench capture FOLDER [--format F] [--endpoint ID] [--direction in|out] [--json]`:
 * reads a capture folder without the app. Without --endpoint or --format it lists the session(s)
 * and their endpoints; with them, it exports to stdout (export/export-capture.ts, which the
 * engine's capture.export uses too; docs/export.md).
 */
import { parseArgs } from 'node:util';
import { formatByteSize } from '../shared/byte-size';
import { exportFormats, type ExportFormat } from '../shared/contract';
import { CaptureFolderReader, findSessions, type CapturedEndpoint } from './engine/capture-reader';
import { exportCapture } from './engine/export/export-capture';

const usage = `Usage:
  socket-workbench capture FOLDER                      list the endpoints of a capture session
  socket-workbench capture FOLDER --json               the same, as JSON
  socket-workbench capture FOLDER --format pcapng|raw|hex|transcript [--endpoint ID]
                                  [--direction in|out] > FILE
                                                       export to stdout (docs/export.md)
  socket-workbench capture FOLDER --endpoint ID [--direction in|out] > FILE
                                                       one endpoint's bytes (--format raw)
Without --endpoint, pcapng holds every endpoint, their packets in time order; raw, hex and
transcript write every endpoint one after another. A listener's --endpoint brings the
connections it accepted. --direction (raw, hex, transcript): only received (in) or sent (out)
bytes; pcapng always holds both.
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
        format: { type: 'string' },
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
  const format = values.format;
  if (format !== undefined && !(exportFormats as readonly string[]).includes(format)) {
    return fail(`--format must be one of ${exportFormats.join(', ')}, not "${format}"`);
  }
  if (direction !== undefined && values.endpoint === undefined && format === undefined) {
    return fail('--direction needs --endpoint or --format');
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

  if (values.endpoint !== undefined || format !== undefined) {
    if (sessions.length > 1) {
      return fail(
        `${positionals[0]} holds ${sessions.length} sessions; name one of them:\n` +
          sessions.map((session) => `  ${session}`).join('\n'),
      );
    }
    return writeExport(
      sessions[0] as string,
      values.endpoint,
      (format ?? 'raw') as ExportFormat,
      direction ?? 'both',
    );
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

async function writeExport(
  folder: string,
  id: string | undefined,
  format: ExportFormat,
  direction: 'in' | 'out' | 'both',
): Promise<number> {
  try {
    const { warnings } = await exportCapture({
      folder,
      ids: id === undefined ? 'all' : [id],
      withConnections: true,
      format,
      direction,
      target: { stream: process.stdout },
    });
    // The output is complete as far as the folder goes: said, but not a failure.
    for (const warning of warnings)
      process.stderr.write(`socket-workbench capture: warning: ${warning}\n`);
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
