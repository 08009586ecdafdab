// node scripts/make-icon.mjs: draws the app icon, resources/icon.png (512×512 RGBA, for the
// window and for electron-builder) and resources/icon.svg (the same drawing, scalable), from one
// list of shapes. Plain Node (node:zlib writes the PNG), so anyone can regenerate it without an
// image tool; both outputs are committed.
//
// The design: two arrows on a dark rounded square, each leaving a socket (a ring), one each way:
// bytes sent (blue, pointing right) and received (green, pointing left), in the colours the app
// itself uses for the two directions (src/renderer/src/app.css, dark theme).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const SIZE = 512;
const OUT = '#58a6ff'; // --out, dark theme
const IN = '#3fb950'; // --in, dark theme

const body = { x: 36, y: 36, width: 440, height: 440, radius: 100 };
const bodyTop = '#222d3f';
const bodyBottom = '#0d1117';

/**
 * One direction: a ring (the socket) at `ring`, a shaft, and a rounded arrowhead whose tip is at
 * `tip`. `dir` is +1 for an arrow pointing right, -1 for left; everything else mirrors.
 */
function arrow({ y, ringX, tipX, dir, colour }) {
  const ringRadius = 29;
  const ringWidth = 19;
  const shaftHalf = 16;
  const headLength = 94;
  const headHalf = 60;
  const round = 10; // corner radius of the arrowhead
  // The drawn head is an inner triangle grown by `round` (round corners, straight sides). The
  // inner one is the outline shrunk towards its incentre until its sides are `round` further in.
  const baseX = tipX - dir * headLength;
  const outline = [
    [baseX, y - headHalf],
    [tipX, y],
    [baseX, y + headHalf],
  ];
  const inner = shrink(outline, round);
  const shaftFrom = ringX + dir * (ringRadius + ringWidth / 2 - 2);
  const shaftTo = baseX + dir * (round + 4);
  return [
    { kind: 'ring', cx: ringX, cy: y, r: ringRadius, width: ringWidth, fill: colour },
    {
      kind: 'rect',
      x: Math.min(shaftFrom, shaftTo),
      y: y - shaftHalf,
      width: Math.abs(shaftTo - shaftFrom),
      height: shaftHalf * 2,
      fill: colour,
    },
    { kind: 'triangle', points: inner, round, fill: colour },
  ];
}

/** The triangle whose sides are `by` inside those of `points` (a homothety about the incentre). */
function shrink(points, by) {
  const [a, b, c] = points;
  const length = (p, q) => Math.hypot(q[0] - p[0], q[1] - p[1]);
  const la = length(b, c);
  const lb = length(c, a);
  const lc = length(a, b);
  const perimeter = la + lb + lc;
  const incentre = [0, 1].map((k) => (la * a[k] + lb * b[k] + lc * c[k]) / perimeter);
  const area = Math.abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2;
  const inradius = (2 * area) / perimeter;
  const scale = (inradius - by) / inradius;
  return points.map((p) => [0, 1].map((k) => incentre[k] + (p[k] - incentre[k]) * scale));
}

// Point-symmetric about the centre, so the pair sits balanced in the square.
const shapes = [
  ...arrow({ y: 198, ringX: 132, tipX: 406, dir: +1, colour: OUT }),
  ...arrow({ y: SIZE - 198, ringX: SIZE - 132, tipX: SIZE - 406, dir: -1, colour: IN }),
];

// ---- signed distances (negative inside), in pixels ----

function roundRectDistance(px, py, { x, y, width, height, radius }) {
  const cx = x + width / 2;
  const cy = y + height / 2;
  const qx = Math.abs(px - cx) - (width / 2 - radius);
  const qy = Math.abs(py - cy) - (height / 2 - radius);
  const outside = Math.hypot(Math.max(qx, 0), Math.max(qy, 0));
  return outside + Math.min(Math.max(qx, qy), 0) - radius;
}

function segmentDistance(px, py, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

function triangleDistance(px, py, points) {
  const [a, b, c] = points;
  const edge = Math.min(
    segmentDistance(px, py, a, b),
    segmentDistance(px, py, b, c),
    segmentDistance(px, py, c, a),
  );
  const side = (p, q) => (q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0]);
  const s1 = side(a, b);
  const s2 = side(b, c);
  const s3 = side(c, a);
  const inside = (s1 >= 0 && s2 >= 0 && s3 >= 0) || (s1 <= 0 && s2 <= 0 && s3 <= 0);
  return inside ? -edge : edge;
}

function shapeDistance(px, py, shape) {
  switch (shape.kind) {
    case 'ring':
      return Math.abs(Math.hypot(px - shape.cx, py - shape.cy) - shape.r) - shape.width / 2;
    case 'rect':
      return roundRectDistance(px, py, { ...shape, radius: 0 });
    case 'triangle':
      return triangleDistance(px, py, shape.points) - shape.round;
    default:
      throw new Error(`unknown shape ${shape.kind}`);
  }
}

// ---- raster ----

const hex = (colour) => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
const mix = (a, b, t) => a.map((v, i) => v + (b[i] - v) * t);

/** erf, Abramowitz–Stegun 7.1.26: enough for a soft shadow. */
function erf(x) {
  const sign = Math.sign(x);
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const poly =
    t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-ax * ax));
}

/** The coverage of a pixel by a shape whose edge is `distance` away: a one-pixel ramp. */
const coverage = (distance) => Math.max(0, Math.min(1, 0.5 - distance));

const SHADOW = { dy: 6, sigma: 8, opacity: 0.45 };
const EDGE = { width: 2, colour: [255, 255, 255], opacity: 0.07 };

function render() {
  const rgba = new Float64Array(SIZE * SIZE * 4);
  const over = (i, colour, alpha) => {
    if (alpha <= 0) return;
    const da = rgba[i + 3];
    const oa = alpha + da * (1 - alpha);
    for (let c = 0; c < 3; c++) {
      rgba[i + c] = (colour[c] * alpha + rgba[i + c] * da * (1 - alpha)) / oa;
    }
    rgba[i + 3] = oa;
  };
  const top = hex(bodyTop);
  const bottom = hex(bodyBottom);
  const fills = shapes.map((shape) => hex(shape.fill));
  // 3×3 samples per pixel on top of the analytic edge ramp: clean corners and thin rings.
  const offsets = [-1 / 3, 0, 1 / 3];
  for (let py = 0; py < SIZE; py++) {
    for (let px = 0; px < SIZE; px++) {
      const i = (py * SIZE + px) * 4;
      const x = px + 0.5;
      const y = py + 0.5;
      const shadowDistance = roundRectDistance(x, y - SHADOW.dy, body);
      const shadow = 0.5 * (1 - erf(shadowDistance / (SHADOW.sigma * Math.SQRT2)));
      over(i, [0, 0, 0], SHADOW.opacity * shadow);

      const bodyDistance = roundRectDistance(x, y, body);
      const t = Math.max(0, Math.min(1, (y - body.y) / body.height));
      over(i, mix(top, bottom, t), coverage(bodyDistance));
      // A faint inner edge, so the square reads on a dark dock or taskbar too.
      const edge = coverage(Math.abs(bodyDistance + EDGE.width / 2) - EDGE.width / 2);
      over(i, EDGE.colour, EDGE.opacity * edge * coverage(bodyDistance));

      shapes.forEach((shape, index) => {
        let sum = 0;
        for (const ox of offsets) {
          for (const oy of offsets) sum += coverage(shapeDistance(x + ox, y + oy, shape) * 1.5);
        }
        over(i, fills[index], sum / 9);
      });
    }
  }
  const bytes = Buffer.alloc(SIZE * SIZE * 4);
  for (let i = 0; i < bytes.length; i++)
    bytes[i] = Math.round(Math.max(0, Math.min(255, rgba[i] * (i % 4 === 3 ? 255 : 1))));
  return bytes;
}

// ---- PNG ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buffer) {
  let crc = 0xffffffff;
  for (const byte of buffer) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function encodePng(rgba, width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = 6; // RGBA
  // compression, filter method, interlace: all 0 (the only standard values, no interlacing)
  const stride = width * 4;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let row = 0; row < height; row++) {
    // Filter "Up" (2): rows of a flat design differ little from the one above.
    raw[row * (stride + 1)] = 2;
    for (let i = 0; i < stride; i++) {
      const above = row > 0 ? rgba[(row - 1) * stride + i] : 0;
      raw[row * (stride + 1) + 1 + i] = (rgba[row * stride + i] - above) & 0xff;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- SVG ----

const n = (value) => Number(value.toFixed(2));

function svg() {
  const parts = shapes.map((shape) => {
    switch (shape.kind) {
      case 'ring':
        return `<circle cx="${n(shape.cx)}" cy="${n(shape.cy)}" r="${n(shape.r)}" fill="none" stroke="${shape.fill}" stroke-width="${shape.width}"/>`;
      case 'rect':
        return `<rect x="${n(shape.x)}" y="${n(shape.y)}" width="${n(shape.width)}" height="${n(shape.height)}" fill="${shape.fill}"/>`;
      case 'triangle':
        return `<polygon points="${shape.points.map(([x, y]) => `${n(x)},${n(y)}`).join(' ')}" fill="${shape.fill}" stroke="${shape.fill}" stroke-width="${shape.round * 2}" stroke-linejoin="round"/>`;
      default:
        throw new Error(`unknown shape ${shape.kind}`);
    }
  });
  const { x, y, width, height, radius } = body;
  const inset = EDGE.width / 2;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">
  <title>Socket Workbench</title>
  <!-- Generated by scripts/make-icon.mjs, with resources/icon.png; edit the script, not this. -->
  <defs>
    <linearGradient id="body" x1="0" y1="${y}" x2="0" y2="${y + height}" gradientUnits="userSpaceOnUse">
      <stop offset="0" stop-color="${bodyTop}"/>
      <stop offset="1" stop-color="${bodyBottom}"/>
    </linearGradient>
    <filter id="shadow" x="-20%" y="-20%" width="140%" height="140%">
      <feGaussianBlur stdDeviation="${SHADOW.sigma}"/>
    </filter>
  </defs>
  <rect x="${x}" y="${y + SHADOW.dy}" width="${width}" height="${height}" rx="${radius}" fill="#000" fill-opacity="${SHADOW.opacity}" filter="url(#shadow)"/>
  <rect x="${x}" y="${y}" width="${width}" height="${height}" rx="${radius}" fill="url(#body)"/>
  <rect x="${x + inset}" y="${y + inset}" width="${width - 2 * inset}" height="${height - 2 * inset}" rx="${radius - inset}" fill="none" stroke="#fff" stroke-opacity="${EDGE.opacity}" stroke-width="${EDGE.width}"/>
  ${parts.join('\n  ')}
</svg>
`;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const isEntry = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isEntry) {
  const png = join(root, 'resources', 'icon.png');
  mkdirSync(dirname(png), { recursive: true });
  writeFileSync(png, encodePng(render(), SIZE, SIZE));
  writeFileSync(join(root, 'resources', 'icon.svg'), svg());
  process.stdout.write(`wrote ${png} and icon.svg (${SIZE}×${SIZE})\n`);
}
