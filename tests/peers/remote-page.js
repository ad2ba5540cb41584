// The remote status page in a real browser (Debian's chromium, headless, driven by
// playwright-core) for tests/remote_browser.rs: says what the page shows, presses Stop when told.
'use strict';

const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const [url, token, screenshotPath] = process.argv.slice(2);
const waitTimeoutMs = 30000;

const lines = readline.createInterface({ input: process.stdin });
const told = [];
let wake = null;
lines.on('line', (line) => { told.push(line.trim()); if (wake) wake(); });
async function waitFor(word) {
  for (;;) {
    const at = told.indexOf(word);
    if (at >= 0) { told.splice(at, 1); return; }
    await new Promise((resolve) => { wake = resolve; });
  }
}

async function stateIs(page, state) {
  await page.waitForFunction(
    (want) => document.getElementById('state').textContent === want,
    state, { timeout: waitTimeoutMs });
  console.log(state);
}

(async () => {
  // A fresh profile each run: nothing remembered, nothing fetched from the internet.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'playhead-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 390, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = browser.pages()[0] || await browser.newPage();
    await page.goto(url);
    await stateIs(page, 'armed');
    await stateIs(page, 'playing');
    // The DAW's machine is listed among the network peers (refreshed once a second).
    await page.waitForFunction(() => document.getElementById('peers').textContent.includes('Live'),
      null, { timeout: waitTimeoutMs });
    console.log('peer Live');
    await waitFor('stop');
    await page.fill('#token', token);
    await page.click('#use-token');
    await page.click('#stop');
    await stateIs(page, 'stopped');
    if (screenshotPath) {
      // The picture of the held frame, once it has loaded.
      await page.waitForFunction(() => {
        const img = document.getElementById('picture');
        return img.complete && img.naturalWidth > 0;
      }, null, { timeout: waitTimeoutMs });
      await page.screenshot({ path: screenshotPath, fullPage: true });
      console.log('screenshot');
    }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(0);
})().catch((e) => { console.log('error ' + e.message.split('\n')[0]); process.exit(1); });
