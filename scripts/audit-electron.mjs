// npm run audit:electron: Electronegativity over the app's Electron code (src/ and package.json),
// failing on any finding that .electronegativity-accepted.json does not accept with a reason, and
// on any file it could not parse (a file it cannot read is a file nobody audited).
//
// Electronegativity 1.10 is old: it cannot follow a call into another file, so the window's
// options (built by windowOptions() in window-options.ts) look unset to it. Such findings are
// accepted by check, file and evidence (what the check read: a CSP, a version, or else the exact
// source line), so a changed line is a new finding to review.
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const acceptedPath = join(root, '.electronegativity-accepted.json');
const require = createRequire(import.meta.url);

const tool = dirname(require.resolve('@doyensec/electronegativity/package.json'));
// It fetches translations and Electron's release list from the internet. These machines have no
// internet, and an audit must not depend on it: its HTTP client answers "unavailable" at once.
const gotPath = createRequire(join(tool, 'package.json')).resolve('got');
const offline = () => Promise.resolve({ statusCode: 503, headers: {}, body: '' });
offline.head = offline;
require.cache[gotPath] = { id: gotPath, filename: gotPath, loaded: true, exports: offline };
const run = require(tool);

function fail(message) {
  process.stderr.write(`audit:electron: ${message}\n`);
  process.exit(1);
}

function readAccepted() {
  let config;
  try {
    config = JSON.parse(readFileSync(acceptedPath, 'utf8'));
  } catch (error) {
    fail(`cannot read ${acceptedPath}: ${error.message}`);
  }
  const accepted = config.accepted ?? [];
  const excluded = config.excludedChecks ?? [];
  for (const entry of [...accepted, ...excluded]) {
    if (typeof entry.reason !== 'string' || entry.reason.trim().length < 20) {
      fail(`every accepted finding and excluded check needs a reason: ${JSON.stringify(entry)}`);
    }
  }
  return { accepted, excluded };
}

function electronVersion() {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const range = pkg.devDependencies?.electron ?? pkg.dependencies?.electron;
  const version = /\d+\.\d+\.\d+/.exec(range ?? '')?.[0];
  if (!version) fail('package.json does not pin an electron version');
  return version;
}

const { accepted, excluded } = readAccepted();

// The audited tree: the sources and the manifest, nothing built or generated, so the result does
// not depend on whether out/ is fresh.
const workDir = mkdtempSync(join(tmpdir(), 'swb-electronegativity-'));
let result;
try {
  cpSync(join(root, 'src'), join(workDir, 'src'), { recursive: true });
  copyFileSync(join(root, 'package.json'), join(workDir, 'package.json'));
  result = await run({
    input: workDir,
    isRelative: true,
    electronVersionOverride: electronVersion(),
    excludeFromScan: excluded.map((entry) => entry.className),
    parserPlugins: [],
  });
} finally {
  rmSync(workDir, { recursive: true, force: true });
}

const sourceLine = (file, line) => {
  if (file === 'N/A' || !line) return '';
  try {
    return (readFileSync(join(root, file), 'utf8').split('\n')[line - 1] ?? '').trim();
  } catch {
    return '';
  }
};

const used = new Set();
const findings = result.issues.map((issue) => {
  const file = issue.file.split('\\').join('/');
  const evidence = issue.properties
    ? JSON.stringify(issue.properties)
    : typeof issue.sample === 'string' && issue.sample.length > 0
      ? issue.sample
      : sourceLine(file, issue.location.line);
  const match = accepted.find(
    (entry) => entry.check === issue.id && entry.file === file && entry.evidence === evidence,
  );
  if (match) used.add(match);
  return { issue, file, evidence, match };
});

const lines = [];
for (const { issue, file, evidence, match } of findings) {
  const where = file === 'N/A' ? 'project' : `${file}:${issue.location.line}`;
  const status = match ? 'accepted' : 'NEW     ';
  lines.push(`${status} ${issue.id} ${where} (${issue.severity.name}, ${issue.confidence.name})`);
  if (match) {
    lines.push(`         ${match.reason}`);
  } else {
    lines.push(`         ${issue.description}`);
    lines.push(`         evidence: ${JSON.stringify(evidence)}`);
  }
}
const fresh = findings.filter((f) => !f.match);
const broken = result.errors.filter((e) => !e.tolerable);
for (const error of result.errors) {
  const file = error.file.slice(workDir.length + 1);
  lines.push(`${error.tolerable ? 'warning ' : 'UNPARSED'} ${file}: ${error.message}`);
}
for (const entry of accepted) {
  if (!used.has(entry)) {
    lines.push(`stale    ${entry.check} ${entry.file}: no longer found; remove it from the file`);
  }
}

process.stdout.write(
  `Electronegativity ${require(join(tool, 'package.json')).version}: ` +
    `${result.globalChecks + result.atomicChecks} checks, ${findings.length} findings ` +
    `(${findings.length - fresh.length} accepted, ${fresh.length} new), ` +
    `${excluded.length} checks excluded (${excluded.map((e) => e.id).join(', ')})\n` +
    (lines.length ? `${lines.join('\n')}\n` : ''),
);
if (fresh.length > 0 || broken.length > 0) {
  fail(
    'fix each NEW finding, or accept it in .electronegativity-accepted.json with its reason ' +
      '(and list it in docs/security.md); a file that could not be parsed was not audited',
  );
}
