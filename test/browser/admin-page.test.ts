import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app.js';
import { useFreshDatabase } from '../support/database.js';
import { DEMO_MOODLE_USER_ID } from '../support/fixtures.js';
import { paymentEvent, postWebhook } from '../support/webhooks.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const database = useFreshDatabase();
let t: TestApp;
let port: number;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`The /admin browser test needs Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`);
  t = createTestApp();
  port = await t.app.start(0, '127.0.0.1');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await t?.app.stop();
});

describe('/admin live sync page', () => {
  it('shows recent events and counts, then a new event without reload', async () => {
    const admin = await t.token('admin');
    const student = await database.db.student.findFirstOrThrow({ where: { tenantId: 'default', moodleUserId: DEMO_MOODLE_USER_ID } });
    const first = await postWebhook(t.app, 'zoho', paymentEvent(student.zohoId!, '7772000000000000001', '10.00', '2031-06-01T10:00:00+00:00'));
    expect(first.body.results?.[0]?.status).toBe('CREATED');

    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/admin`);
    await page.fill('#token', admin);
    await page.click('#connect');
    await page.waitForSelector('#state:text("live")', { timeout: 10_000 });
    await page.waitForSelector(`tr[data-id="${first.body.results![0]!.eventId}"]`);
    const createdBefore = Number(await page.textContent('.count[data-label="CREATED"] b'));
    expect(createdBefore).toBeGreaterThanOrEqual(1);

    const second = await postWebhook(t.app, 'zoho', paymentEvent('7779999999999999990', '7772000000000000002', '5.00', '2031-06-02T10:00:00+00:00'));
    expect(second.body.results?.[0]?.status).toBe('PARKED');
    const row = await page.waitForSelector(`tr[data-id="${second.body.results![0]!.eventId}"]`, { timeout: 5000 });
    expect(await row.textContent()).toContain('waiting for Student:zohoId:7779999999999999990');
    await page.waitForFunction(() => Number(document.querySelector('.count[data-label="parked backlog"] b')?.textContent) >= 1, null, { timeout: 5000 });
    // The new event arrived over the WebSocket: the page never reloaded.
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
    await page.close();
  });
});
