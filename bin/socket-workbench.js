#!/usr/bin/env node
// socket-workbench serve [--host H] [--port P] | start | capture FOLDER …
import { capture, serve } from '../scripts/serve.js';
import { start } from '../scripts/start.js';

const usage = `Usage:
  socket-workbench serve [--host HOST] [--port PORT]   the workbench in your browser
  socket-workbench start                               the desktop app (needs Electron and a display)
  socket-workbench capture FOLDER [--endpoint ID [--direction in|out]] [--json]
                                                       list a capture folder, or write one endpoint's bytes`;

const [command, ...args] = process.argv.slice(2);

if (command === 'serve') {
  serve(args);
} else if (command === 'capture') {
  capture(args);
} else if (command === 'start') {
  start(args);
} else if (
  command === undefined ||
  command === 'help' ||
  command === '--help' ||
  command === '-h'
) {
  process.stdout.write(`${usage}\n`);
} else {
  process.stderr.write(`Unknown command: ${command}\n\n${usage}\n`);
  process.exit(2);
}
