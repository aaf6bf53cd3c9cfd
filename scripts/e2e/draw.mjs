// draw.mjs: opens cnngpu serve's page in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), draws digits with the
// mouse as a person would, and prints what the page shows for each, one
// JSON object per line. Saves a screenshot of the last one.
//
// usage: node draw.mjs http://127.0.0.1:PORT/ screenshot.png
import { launch } from './browser.mjs';

const [url, shot] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
  await page.goto(url);
  const box = await page.locator('#pad').boundingBox();
  // Strokes in canvas coordinates (280x280).
  const digits = {
    1: [[[150, 40], [146, 140], [142, 240]]],
    0: [circle(140, 140, 62, 95)],
    7: [[[70, 55], [210, 55], [120, 240]]],
  };
  for (const [want, strokes] of Object.entries(digits)) {
    await page.click('#clear');
    for (const s of strokes) {
      await page.mouse.move(box.x + s[0][0], box.y + s[0][1]);
      await page.mouse.down();
      for (let i = 1; i < s.length; i++) {
        await page.mouse.move(box.x + s[i][0], box.y + s[i][1], { steps: 12 });
      }
      await page.mouse.up();
    }
    // Wait for the page to show a prediction for the finished drawing.
    await page.waitForFunction(() => document.querySelector('#digit').textContent !== '');
    await page.waitForTimeout(300);
    const shown = await page.evaluate(() => ({
      digit: document.querySelector('#digit').textContent,
      confidence: document.querySelector('#confidence').textContent,
      bars: [...document.querySelectorAll('.pct')].map((e) => e.textContent),
      error: document.querySelector('#error').textContent,
    }));
    console.log(JSON.stringify({ drawn: Number(want), ...shown }));
  }
  if (shot) await page.screenshot({ path: shot });
} finally {
  await browser.close();
}

function circle(cx, cy, rx, ry) {
  const pts = [];
  for (let a = -Math.PI / 2; a <= 1.5 * Math.PI + 0.2; a += 0.15) pts.push([cx + rx * Math.cos(a), cy + ry * Math.sin(a)]);
  return pts;
}
