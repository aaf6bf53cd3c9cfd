// cors.mjs: opens a page of one origin in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) and, from it, posts a
// drawn digit's pixels as JSON to cnngpu serve on another origin, as a
// web app would. Prints one JSON object: the status and answer, or the
// error the browser gave the page (a refused cross-origin call).
//
// usage: node cors.mjs http://PAGE-ORIGIN/ http://127.0.0.1:PORT/v1/predict
import { launch } from './browser.mjs';

const [pageURL, api] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(pageURL);
  const got = await page.evaluate(async (api) => {
    // A vertical stroke: a 1.
    const pixels = new Array(784).fill(0);
    for (let y = 4; y < 24; y++) for (let x = 13; x < 16; x++) pixels[y * 28 + x] = 1;
    try {
      const r = await fetch(api, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pixels }) });
      return { status: r.status, answer: await r.json() };
    } catch (e) {
      return { error: String(e) };
    }
  }, api);
  console.log(JSON.stringify(got));
} finally {
  await browser.close();
}
