// browser.mjs: headless Chromium for the end-to-end scripts: Debian's
// /usr/bin/chromium (or $CHROMIUM), driven by playwright-core, with the
// flags a sandboxed CI machine needs.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}
