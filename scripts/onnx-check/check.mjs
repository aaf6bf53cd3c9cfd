// check.mjs: runs an exported model.onnx in ONNX Runtime (CPU) on an IDX
// image file and compares it with `cnngpu predict --idx FILE --json`:
// predictions must agree on at least 99.9% of images and probabilities
// within 1e-4. Prints the figures; exits 1 when either bound is missed.
//
// usage: node check.mjs model.onnx t10k-images-idx3-ubyte.gz predictions.jsonl
import fs from 'node:fs';
import zlib from 'node:zlib';
import ort from 'onnxruntime-node';

const [modelPath, idxPath, predPath] = process.argv.slice(2);
if (!predPath) {
  console.error('usage: node check.mjs model.onnx IMAGES.idx[.gz] predictions.jsonl');
  process.exit(2);
}
let raw = fs.readFileSync(idxPath);
if (raw[0] === 0x1f && raw[1] === 0x8b) raw = zlib.gunzipSync(raw);
if (raw.readUInt32BE(0) !== 0x803) throw new Error(`${idxPath}: not an IDX image file`);
const n = raw.readUInt32BE(4), rows = raw.readUInt32BE(8), cols = raw.readUInt32BE(12);
const pixels = raw.subarray(16);
const ours = fs.readFileSync(predPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
if (ours.length !== n) throw new Error(`${predPath} has ${ours.length} predictions for ${n} images`);

const session = await ort.InferenceSession.create(modelPath);
const batch = 500;
let agree = 0, maxDiff = 0, worst = -1;
for (let lo = 0; lo < n; lo += batch) {
  const k = Math.min(batch, n - lo);
  const x = new Float32Array(k * rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = pixels[lo * rows * cols + i] / 255;
  const out = await session.run({ image: new ort.Tensor('float32', x, [k, 1, rows, cols]) });
  const p = out.probabilities.data;
  for (let i = 0; i < k; i++) {
    let arg = 0;
    for (let j = 1; j < 10; j++) if (p[i * 10 + j] > p[i * 10 + arg]) arg = j;
    const o = ours[lo + i];
    if (arg === o.digit) agree++;
    for (let j = 0; j < 10; j++) {
      const d = Math.abs(p[i * 10 + j] - o.probabilities[j]);
      if (d > maxDiff) { maxDiff = d; worst = lo + i; }
    }
  }
}
const rate = agree / n;
console.log(`onnxruntime ${ort.env.versions?.common ?? ''} vs cnngpu predict on ${n} images: ` +
  `predictions agree on ${agree} (${(100 * rate).toFixed(2)}%), max probability difference ${maxDiff.toExponential(2)} (image ${worst})`);
if (rate < 0.999 || maxDiff > 1e-4) {
  console.error('ONNX check FAILED: need at least 99.9% agreement and probabilities within 1e-4');
  process.exit(1);
}
console.log('ONNX check passed');
