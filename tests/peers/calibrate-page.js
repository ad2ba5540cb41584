// The calibration page in a real browser (Debian's chromium, headless, driven by
// playwright-core) for tests/calibrate_browser.rs. Chromium's fake capture devices play the
// test's files as the phone's camera and microphone.
//
//   node calibrate-page.js URL TOKEN VIDEO.y4m AUDIO.wav MODE SECONDS [SCREENSHOT.png]
//
// MODE "measure": start, watch and listen for SECONDS of capture time, then print
//   `pairs JSON` (every flash paired with its click: capture times and offsets, ms), press
//   Apply and print `applied TEXT` (the page's message), press Save and print `saved TEXT`.
//   With PLAYHEAD_CALIBRATE_OUTPUT set, that output is chosen first (`output NAME at OFFSET`).
// MODE "nothing": start and print what the page says when it sees no flash and hears no
//   click, and whether Apply can be pressed.
'use strict';

const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, token, video, audio, mode, seconds, screenshotPath] = process.argv.slice(2);

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'playhead-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 390, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--ignore-certificate-errors', '--autoplay-policy=no-user-gesture-required',
           '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
           `--use-file-for-fake-video-capture=${video}`,
           `--use-file-for-fake-audio-capture=${audio}`],
  });
  try {
    const page = browser.pages()[0] || await browser.newPage();
    page.on('pageerror', (e) => console.log(`error in the page: ${e.message}`));
    await page.goto(url);
    await page.fill('#token', token);
    await page.click('#start');
    if (mode === 'nothing') {
      await page.waitForFunction(
        () => /no flash/.test(document.getElementById('step').textContent) &&
              /no click/.test(document.getElementById('step').textContent),
        null, { timeout: 30000 });
      console.log(`said ${await page.textContent('#step')}`);
      console.log(`apply ${await page.isDisabled('#apply') ? 'disabled' : 'enabled'}`);
      // Over TLS too, control without the token is refused.
      const refused = await page.evaluate(async () =>
        (await fetch('/api/play', { method: 'POST' })).status);
      console.log(`without token ${refused}`);
      return;
    }
    // Capture time covered by the camera's frames.
    // Capture time covered by the camera's frames and by the microphone's samples (a loaded
    // machine may deliver one behind the other).
    await page.waitForFunction((want) => {
      const s = window.calibration.seen, f = s.frames;
      return f.length > 1 && f[f.length - 1].t - f[0].t >= want &&
        s.audioFirst !== undefined && s.audioLast - s.audioFirst >= want;
    }, Number(seconds) * 1000, { timeout: (Number(seconds) + 60) * 1000, polling: 200 });
    const seen = await page.evaluate(() => {
      const c = window.calibration, a = c.analyse(), f = c.seen.frames;
      const levels = f.map((x) => x.level);
      return `frames ${f.length} (levels ${Math.min(...levels).toFixed(0)}..${Math.max(...levels).toFixed(0)}, ` +
        `${((f[f.length - 1].t - f[0].t) / 1000).toFixed(1)} s), audio blocks ${c.seen.audioBlocks}, ` +
        `flashes ${a.flashes.length}, clicks ${a.clicks.length}, first click ${a.clicks[0]}, first flash ${a.flashes[0]}`;
    });
    console.log(`seen ${seen}`);
    const pairs = await page.evaluate(() => window.calibration.analyse().pairs);
    console.log(`pairs ${JSON.stringify(pairs)}`);
    await page.evaluate(() => window.calibration.update());
    await page.waitForFunction(() => !document.getElementById('apply').disabled, null,
      { timeout: 10000 });
    if (screenshotPath) await page.screenshot({ path: screenshotPath, fullPage: true });
    const result = await page.textContent('#result');
    console.log(`result ${result}`);
    // With several outputs: the one the camera sees, as the operator chooses it.
    const output = process.env.PLAYHEAD_CALIBRATE_OUTPUT;
    if (output) {
      await page.waitForSelector('#output-choice:not([hidden])', { timeout: 10000 });
      await page.selectOption('#output', output);
      await page.evaluate(() => document.getElementById('output').onchange());
      await page.waitForFunction(() => document.getElementById('current').textContent !== '\u2013',
        null, { timeout: 10000 });
      console.log(`output ${await page.inputValue('#output')} at ${await page.textContent('#current')}`);
    }
    await page.click('#apply');
    await page.waitForFunction(() => /Offset set|refused|token/.test(
      document.getElementById('message').textContent), null, { timeout: 10000 });
    console.log(`applied ${await page.textContent('#message')}`);
    await page.click('#save');
    await page.waitForFunction(() => /Saved|refused|token/.test(
      document.getElementById('message').textContent), null, { timeout: 10000 });
    console.log(`saved ${await page.textContent('#message')}`);
  } catch (e) {
    console.log(`error ${e.message.split('\n')[0]}`);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})();
