/**
 * The English catalog: every string the UI shows. Keys are grouped by where they appear;
 * `{name}` marks a value filled in at run time. zh-CN.ts must have exactly these keys.
 *
 * Labels that tests and assistive technology find controls by ("Host", "Port", "Send", …) are
 * part of the UI's interface: change them deliberately.
 */
export const en = {
  'app.title': 'Socket Workbench',
  'app.language': 'Language',

  'status.connecting': 'Connecting to the workbench…',
  'status.reconnecting': 'Reconnecting to the workbench…',
  'status.lost': 'Connection to the workbench lost. Retrying in {seconds} s…',
  'status.capturePressure':
    'The capture file is behind: reading is paused on every connection until it catches up; UDP sockets drop datagrams once memory is full.',
  'status.captureError': 'The capture file cannot be written: {message}',

  'open.heading': 'Open',
  'open.tcpListener': 'TCP listener',
  'open.tcpClient': 'TCP client',
  'open.unixListener': 'Unix listener',
  'open.unixClient': 'Unix client',
  'open.udpSocket': 'UDP socket',

  'form.host': 'Host',
  'form.port': 'Port',
  'form.backlog': 'Backlog',
  'form.backlogHint': 'How many finished handshakes may wait for accept()',
  'form.timeout': 'Timeout (ms)',
  'form.path': 'Path',
  'form.removeStale': 'Remove stale socket file',
  'form.openListener': 'Open listener',
  'form.connect': 'Connect',
  'form.bind': 'Bind',

  'validate.hostEmpty': 'Enter a host name or an address such as 127.0.0.1',
  'validate.hostTooLong': 'A host name has at most 253 characters',
  'validate.hostChars': 'A host may only contain letters, digits, ".", ":", "-", "_" and "%"',
  'validate.portRangeListen': 'Port must be a whole number from 0 to 65535 (0 picks a free port)',
  'validate.portRangeConnect': 'Port must be a whole number from 1 to 65535',
  'validate.backlog': 'Backlog must be a whole number from 0 to 65535',
  'validate.timeout': 'Timeout must be a whole number of milliseconds from 1 to 600000',
  'validate.pathEmpty': 'Enter the path of the socket file',
  'validate.pathTooLong': 'The path is longer than 1024 characters',
  'validate.pathNul': 'The path contains a NUL character',
  'validate.destination': 'Enter the destination as host:port, e.g. 127.0.0.1:9000 or [::1]:9000',

  'sidebar.label': 'Endpoints',
  'sidebar.listeners': 'Listeners',
  'sidebar.clients': 'Clients',
  'sidebar.udp': 'UDP sockets',
  'sidebar.empty': 'Nothing open yet. Open a listener or connect a client above.',
  'sidebar.loading': 'Loading…',

  'row.connectionsOne': '{n} connection',
  'row.connectionsMany': '{n} connections',
  'row.local': 'local {address}',
  'row.bytesIn': 'received',
  'row.bytesOut': 'sent',

  'kind.tcpListener': 'TCP listener',
  'kind.unixListener': 'Unix listener',
  'kind.tcpConnection': 'TCP',
  'kind.unixConnection': 'Unix',
  'kind.udpSocket': 'UDP',

  'state.opening': 'opening',
  'state.listening': 'listening',
  'state.bound': 'bound',
  'state.connecting': 'connecting',
  'state.open': 'open',
  'state.halfClosedLocal': 'half-closed (we sent FIN)',
  'state.halfClosedRemote': 'half-closed (peer sent FIN)',
  'state.closed': 'closed',
  'state.reset': 'reset',
  'state.error': 'error',

  'empty.heading': 'Nothing selected',
  'empty.body':
    'Open a listener, a client or a UDP socket on the left, then select it to see its traffic, its lifecycle and what you can do with it.',

  'pane.local': 'local',
  'pane.remote': 'remote',

  'controls.label': 'Actions',
  'controls.halfClose': 'Half-close',
  'controls.halfCloseHint': 'shutdown(SHUT_WR): send FIN, keep reading what the peer sends',
  'controls.close': 'Close',
  'controls.closeHint': 'close(): FIN, then release the socket',
  'controls.reset': 'Reset',
  'controls.resetHint': 'Abortive close: send RST instead of FIN, discard unsent data',
  'controls.pause': 'Pause reading',
  'controls.pauseHint':
    'Stop reading: the receive buffer fills and the peer’s writes stall (TCP backpressure)',
  'controls.resume': 'Resume reading',
  'controls.resumeHint': 'Read again: the window opens and the peer can continue',
  'controls.noDelay': 'No delay (TCP_NODELAY)',
  'controls.noDelayHint': 'Turn off Nagle’s algorithm: small writes go out at once',
  'controls.keepAlive': 'Keep-alive (SO_KEEPALIVE)',
  'controls.keepAliveHint': 'Send probes on an idle connection to notice a vanished peer',
  'controls.allowHalfOpen': 'Allow half-open',
  'controls.allowHalfOpenHint':
    'When the peer sends FIN, keep our side open (otherwise we close automatically)',
  'controls.stopListening': 'Stop listening',
  'controls.closeConnections': 'Also close its connections',
  'controls.forget': 'Forget',
  'controls.forgetHint': 'Remove this finished endpoint and its capture from the list',

  'counters.label': 'Counters',
  'counters.bytesIn': 'Bytes in',
  'counters.bytesOut': 'Bytes out',
  'counters.chunksIn': 'Chunks in',
  'counters.chunksOut': 'Chunks out',
  'counters.datagramsIn': 'Datagrams in',
  'counters.datagramsOut': 'Datagrams out',
  'counters.queued': 'Queued',
  'counters.datagramsDropped': 'Dropped (capture behind)',

  'traffic.heading': 'Traffic',
  'traffic.terminal': 'Traffic log',
  'terminal.received': 'received',
  'terminal.sent': 'sent',
  'terminal.earlier': '… {count} earlier bytes are not shown here (search and copy still see them)',
  'terminal.gap':
    '… {count} bytes not shown here while the view caught up (search and copy still see them)',
  'terminal.readFailed': 'Could not read the capture: {message}',

  // The capture's limit and free-space floor (CaptureSettings), and bytes the limit deleted.
  'capture.button': 'Capture',
  'capture.summary': 'Capture: {stored} of {limit}',
  'capture.summaryUnlimited': 'Capture: {stored} (no limit)',
  'capture.folder': 'Folder',
  'capture.stored': 'Stored',
  'capture.deleted': 'Deleted by the limit',
  'capture.free': 'Free space there',
  'capture.freeUnknown': 'not reported',
  'capture.explain':
    'Every byte goes to this folder. Past the limit the oldest bytes are deleted first; under the free-space floor capture stops and reading pauses. Read it without the app:',
  'capture.limit': 'Capture limit',
  'capture.limitHint': 'A size such as 4 GiB or 500 MiB',
  'capture.limitInvalid': 'Enter a size of at least {min}, such as 4 GiB',
  'capture.unlimited': 'Unlimited (the folder may fill the disk down to the floor)',
  'capture.floor': 'Free-space floor',
  'capture.floorHint': 'Capture stops while less than this is free',
  'capture.floorInvalid': 'Enter a size such as 1 GiB (0 turns the floor off)',
  'capture.apply': 'Apply',
  'capture.applied': 'Applied.',
  'capture.gone':
    'The oldest {count} bytes of this endpoint are gone: the capture limit deleted them. Everything after is kept.',
  'terminal.gone': '… {count} bytes are gone here: the capture limit deleted them',
  'history.gone': 'Bytes before offset {offset} are gone: the capture limit deleted them.',
  'history.toOldest': 'Go to the oldest kept byte',

  'view.label': 'View',
  'view.mode': 'Mode',
  'view.modeText': 'Text',
  'view.modeHex': 'Hex dump',
  'view.modeBoth': 'Text + hex dump',
  'view.decoding': 'Decoding',
  'view.timestamps': 'Timestamps',
  'view.clear': 'Clear',
  'view.history': 'History',

  'traffic.skipped': '{count} bytes skipped in live view (kept in capture): bytes {from}–{to}',
  'traffic.showSkipped': 'Show skipped bytes',

  'history.region': 'Capture history',
  'history.close': 'Close history',
  'history.offset': 'Offset',
  'history.pageSize': 'Page size',
  'history.showAs': 'Show as',
  'history.first': 'First page',
  'history.previous': 'Previous page',
  'history.next': 'Next page',
  'history.last': 'Last page',
  'history.range': 'Bytes {from}–{to} of {total}',
  'history.empty': 'No bytes at offset {offset} (the capture holds {total})',
  'history.loading': 'Reading the capture…',

  'search.input': 'Search',
  'search.placeholder': 'Find in capture',
  'search.hint': 'Escapes work here too, e.g. \\r\\n or \\x00',
  'search.next': 'Find next',
  'search.previous': 'Find previous',
  'search.searching': 'Searching…',
  'search.searchingProgress': 'Searching… {searched} of {total} (Esc stops)',
  'search.stop': 'Stop search',
  'search.kind': 'Search for',
  'search.kindText': 'Text',
  'search.kindHex': 'Hex bytes',
  'search.kindRegex': 'Regex',
  'search.hintHex': 'Hex bytes, e.g. de ad be ef',
  'search.hintRegex': 'An RE2 regular expression over the text decoded in the view encoding',
  'search.ignoreCase': 'Ignore case',
  'search.ignoreCaseHint': 'Ignore case (ASCII letters)',
  'search.direction': 'Direction',
  'search.directionBoth': 'Both directions',
  'search.directionIn': 'Received only',
  'search.directionOut': 'Sent only',
  'search.none': 'No matches',
  'search.position': 'Match {index} of {total}, at byte {offset}',
  'search.notInView': '(no longer shown in the view)',

  'copy.label': 'Copy',
  'copy.as': 'Copy as',
  'copy.text': 'Text',
  'copy.hex': 'Hex',
  'copy.c': 'C array',
  'copy.base64': 'Base64',
  'copy.selection': 'Copy selection',
  'copy.all': 'Copy all',
  'copy.nothingSelected': 'Select something in the traffic view first',
  'copy.copiedSelectionOne': 'Copied the selection: {count} byte',
  'copy.copiedSelectionMany': 'Copied the selection: {count} bytes',
  'copy.copiedAllOne': 'Copied {count} byte',
  'copy.copiedAllMany': 'Copied {count} bytes',
  'copy.truncated': '(only the start: the capture is larger than the clipboard limit)',
  'copy.reading': 'Reading the capture…',
  'copy.failed': 'The clipboard refused the copy',

  'unit.bytesOne': '{count} byte',
  'unit.bytesMany': '{count} bytes',

  'composer.heading': 'Send',
  'composer.format': 'Format',
  'composer.formatText': 'Text with escapes',
  'composer.formatHex': 'Hex',
  'composer.formatBase64': 'Base64',
  'composer.encoding': 'Encoding',
  'composer.history': 'History',
  'composer.historyPlaceholder': 'Sent before…',
  'composer.payload': 'Payload',
  'composer.placeholderText': 'Text; escapes: \\r \\n \\t \\0 \\\\ \\xHH',
  'composer.placeholderHex': 'Hex bytes, e.g. de ad be ef',
  'composer.placeholderBase64': 'Base64, e.g. aGVsbG8=',
  'composer.preview': 'Preview',
  'composer.previewPending': 'Encoding…',
  'composer.showError': 'Go to error',
  'composer.destination': 'Destination',
  'composer.send': 'Send',
  'composer.broadcastOne': 'Broadcast to all {n} connection',
  'composer.broadcastMany': 'Broadcast to all {n} connections',
  'composer.shortcut': 'Ctrl+Enter sends · Alt+↑/↓ history',
  'composer.sentOne': 'Sent {count} byte',
  'composer.sentMany': 'Sent {count} bytes',
  'composer.broadcastDoneOne': 'Sent {count} bytes to {n} connection',
  'composer.broadcastDoneMany': 'Sent {count} bytes to each of {n} connections',
  'composer.noConnections': 'No open connections to broadcast to.',
  'composer.udpClosed': 'This socket is closed.',
  'composer.notWritable': 'This connection can no longer send (we sent FIN, or it is closed).',

  // Issue 9: the send queue limit, the kernel's UDP drops, hosts reachable from other machines.
  'composer.queue': 'Send queue',
  'composer.queueStatus':
    '{queued} of {limit} waiting for the peer to read; past {limit} sends are refused',
  'composer.broadcastRefusedOne': '{n} connection got nothing: its peer is not reading ({ids})',
  'composer.broadcastRefusedMany':
    '{n} connections got nothing: their peers are not reading ({ids})',
  'counters.kernelDrops': 'Dropped by the kernel (receive buffer full)',
  'counters.kernelDropsUnknown': 'not reported by this OS',
  'form.hostEveryInterface':
    'Reachable from other machines: {host} means every interface of this machine (host 0, 0.0.0.0 and :: all do). Use 127.0.0.1 or ::1 to stay on this machine.',
  'form.hostNetworkAddress':
    'Reachable from other machines: {host} is not a loopback address. Use 127.0.0.1 or ::1 to stay on this machine (host 0 would mean every interface).',
  'form.hostName':
    'May be reachable from other machines: {host} is a name, and it binds whatever address the name resolves to. Use 127.0.0.1 or ::1 to stay on this machine (host 0 would mean every interface).',

  'listener.connections': 'Accepted connections',
  'listener.more': '… and {count} more (all are listed on the left)',
  'listener.none': 'No connections yet. Connect a client to this address.',

  // Issue 9: a listener's connection limits, the descriptor reserve, a bounded session.
  'form.limits': 'Connection limits',
  'form.limitsSummary': 'up to {max} open · half-closed idle {seconds} s · {keep} closed kept',
  'form.limitsSummaryNoIdle': 'up to {max} open · half-closed kept · {keep} closed kept',
  'form.maxConnections': 'Connection limit',
  'form.maxConnectionsHint':
    'Connections open at once; past it, new ones are closed right after accept() and counted',
  'form.halfClosedIdle': 'Close idle half-closed connections after (s)',
  'form.halfClosedIdleHint':
    'A connection the peer half-closed (FIN) that stays idle this long is closed; 0 = never. Never one you are looking at.',
  'form.keepClosed': 'Closed connections kept',
  'form.keepClosedHint':
    'Older closed connections leave the list; their bytes stay in the capture file',
  'validate.maxConnections': 'The connection limit must be a whole number from 1 to 1000000',
  'validate.halfClosedIdle':
    'The idle time must be a whole number of seconds from 0 to 86400 (0 = never)',
  'validate.keepClosed': 'Closed connections kept must be a whole number from 0 to 100000',
  'row.refused': '{count} refused',
  'listener.limits':
    'Limits: up to {max} connections open · half-closed connections idle for {seconds} s are closed · the last {keep} closed stay listed',
  'listener.limitsNoIdle':
    'Limits: up to {max} connections open · half-closed connections are kept · the last {keep} closed stay listed',
  'listener.refusedAtLimit': '{count} refused: limit of {limit} connections reached',
  'listener.refusedForReserve':
    '{count} refused: too few file descriptors left (a reserve is kept so this window keeps working)',
  'listener.closedForgotten':
    '{closed} closed, {forgotten} forgotten (their bytes stay in the capture file)',
  'listener.closedIdle': '{count} closed after staying half-closed and idle',
  'tl.call.idleClose': 'idle half-closed → close()',
  'tl.explain.idleClose':
    'The peer half-closed this connection and it stayed idle for the listener’s idle time, so we close it: otherwise a peer could hold descriptors forever.',

  'timeline.heading': 'Lifecycle',
  'timeline.byLocal': '(by us)',
  'timeline.byRemote': '(by the peer)',

  'tl.call.socket': 'socket() + bind()',
  'tl.explain.socket': 'A socket is created and bound to the local address.',
  'tl.call.socketClient': 'socket()',
  'tl.explain.socketClient': 'A socket is created for the connection.',
  'tl.call.listening': 'listen(backlog)',
  'tl.explain.listening':
    'The socket accepts connections now. The kernel completes handshakes by itself and queues them (up to the backlog) until accept() takes them.',
  'tl.call.bound': 'bind()',
  'tl.explain.bound':
    'The UDP socket has its local address: it can send and receive datagrams. There is no connection.',
  'tl.call.connect': 'connect() → SYN',
  'tl.explain.connect': 'We sent SYN to the peer: the first step of the three-way handshake.',
  'tl.call.connectUnix': 'connect(path)',
  'tl.explain.connectUnix': 'We asked the kernel to connect us to the socket file at this path.',
  'tl.call.established': 'SYN-ACK received, ACK sent',
  'tl.explain.established':
    'The peer answered SYN-ACK and we acknowledged it: the handshake is done, the connection is open.',
  'tl.call.establishedAccepted': '← SYN, SYN-ACK →, ← ACK',
  'tl.explain.establishedAccepted': 'The client’s handshake is complete: the connection is open.',
  'tl.call.establishedUnix': 'connect() returned',
  'tl.explain.establishedUnix':
    'The kernel joined the two sockets directly; Unix sockets need no handshake on a wire.',
  'tl.call.accepted': 'accept()',
  'tl.explain.accepted':
    'The kernel had finished the handshake with a client; accept() handed us a new socket for this connection. The listener keeps listening.',
  'tl.call.finSent': 'shutdown(SHUT_WR) → FIN',
  'tl.call.finSentUnix': 'shutdown(SHUT_WR)',
  'tl.explain.finSent':
    'We will send nothing more, but we still read: the peer may keep sending until it closes its side.',
  'tl.call.finReceived': '← FIN (read returns 0)',
  'tl.call.finReceivedUnix': '← end of stream (read returns 0)',
  'tl.explain.finReceived':
    'The peer will send nothing more. We can still send until we close our side.',
  'tl.call.rstSent': 'RST →',
  'tl.explain.rstSent':
    'We aborted the connection: unsent data is dropped and the peer gets ECONNRESET. No four-way teardown.',
  'tl.call.rstReceived': '← RST (ECONNRESET)',
  'tl.explain.rstReceived':
    'The peer aborted the connection (or nothing was there any more); data in flight is lost.',
  'tl.call.closed': 'close()',
  'tl.call.closedRemote': 'close() after the peer closed',
  'tl.explain.closed': 'Both directions are finished and the socket is released.',
  'tl.explain.closedRemote':
    'The peer closed first; once our side was done too, the socket was released.',
  'tl.explain.closedSocket': 'The socket is closed and its address released.',
  'tl.call.stopped': 'close() on the listening socket',
  'tl.explain.stopped':
    'No new connections are accepted. Connections accepted earlier live on unless closed too.',
  'tl.call.paused': 'reading paused',
  'tl.explain.paused':
    'We stopped reading. The receive buffer fills, our advertised window shrinks to zero, and the peer’s writes stall.',
  'tl.call.resumed': 'reading resumed',
  'tl.explain.resumed': 'We read again: the window reopens and the peer can continue sending.',
  'tl.call.option': 'setsockopt()',
  'tl.explain.option': 'A socket option changed.',
  'tl.call.error': 'error',
  'tl.explain.error': 'The operation failed; the reason is below.',

  'error.atPosition': ' (at character {position})',
} as const;

export type MessageKey = keyof typeof en;
