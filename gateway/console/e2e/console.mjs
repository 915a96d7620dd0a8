// The operations console in a real browser (the system's Chromium, driven by
// playwright-core): staff sign in, see the platform's health, find a checkout that waits
// at a step, resume it and see its order become PAID live, compensate a STUCK one, then
// redrive dead letters.
// Run by gateway/platform/tests/it/console.rs, which sets up what it finds:
//   CONSOLE_URL, STAFF_EMAIL, STAFF_PASSWORD, CHECKOUT_ID, STUCK_CHECKOUT_ID, ORDER_ID,
//   DEAD_EVENT_IDS (comma-separated, oldest first), CHROMIUM, SCREENSHOTS_DIR.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env('CONSOLE_URL');
const screenshots = env('SCREENSHOTS_DIR');
mkdirSync(screenshots, { recursive: true });
const deadEvents = env('DEAD_EVENT_IDS').split(',');
const TIMEOUT = 30_000;

const step = (text) => console.log(`console e2e: ${text}`);

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  // The test runs as root in CI, where Chromium's sandbox cannot start.
  args: ['--no-sandbox'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
page.setDefaultTimeout(TIMEOUT);
const problems = [];
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
page.on('console', (message) => {
  if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
});

async function shot(name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

try {
  await page.goto(url);
  step('sign-in form shown');
  await page.getByLabel('E-mail').fill(env('STAFF_EMAIL'));
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const refused = await page.getByRole('alert').textContent();
  if (!/^[A-Z_]+: /.test(refused ?? '')) throw new Error(`a refused sign-in shows no error code: ${refused}`);
  step(`a wrong password is refused: ${refused}`);
  await shot('console-sign-in');

  await page.getByLabel('Password').fill(env('STAFF_PASSWORD'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Health' }).waitFor();
  await page.locator('tr[data-context] .badge[data-status="READY"]').nth(10).waitFor();
  const ready = await page.locator('tr[data-context] .badge[data-status="READY"]').count();
  if (ready !== 11) throw new Error(`${ready} of 11 contexts ready`);
  await page.locator('[data-tile="dead-letters"] .value', { hasText: String(deadEvents.length) }).waitFor();
  step('health: 11 contexts ready, the dead letters counted');
  await shot('console-health');

  // The checkout waits at MARK_ORDER_PAID; quiet for 0 s lists it at once.
  await page.goto(`${url}#/checkouts?quiet=0`);
  const card = page.locator(`article[data-checkout="${env('CHECKOUT_ID')}"]`);
  await card.locator('.badge[data-status="RUNNING"]').waitFor();
  await card.getByText('at MARK_ORDER_PAID').waitFor();
  await card.locator('.order-status .badge[data-status="AWAITING_PAYMENT"]').waitFor();
  // Its order is followed live once the socket is up.
  await page.waitForFunction(() => document.body.dataset.live === 'connected');
  await page.waitForTimeout(1500);
  step('the waiting checkout is listed, its order AWAITING_PAYMENT');
  await shot('console-checkouts');

  await card.getByRole('button', { name: 'Resume' }).click();
  await card.getByRole('status').filter({ hasText: 'Resumed: now COMPLETED' }).waitFor();
  // The carrier moves it on at once: PAID, then FULFILLING and on, each arriving live.
  await card.locator('.live li[data-to="PAID"]').waitFor();
  if ((await card.getByRole('button', { name: 'Resume' }).count()) !== 0) throw new Error('a finished checkout still offers actions');
  step('resumed: COMPLETED, and the order became PAID live');
  await shot('console-checkout-resumed');

  // The stuck one cannot go forward: staff compensate it, saying why.
  const stuck = page.locator(`article[data-checkout="${env('STUCK_CHECKOUT_ID')}"]`);
  await stuck.locator('.badge[data-status="STUCK"]').waitFor();
  await stuck.getByText('at CAPTURE_PAYMENT').waitFor();
  await stuck.getByLabel('Reason').fill('capture refused for good, ticket OPS-1');
  await stuck.getByRole('button', { name: 'Compensate' }).click();
  await stuck.getByRole('status').filter({ hasText: 'Compensated: now FAILED' }).waitFor();
  step('compensated: FAILED, its payment voided and its order canceled');

  // Dead letters: a discard without a reason is refused with its code; each letter is
  // redriven, oldest first.
  await page.goto(`${url}#/dead-letters`);
  for (const id of deadEvents) await page.locator(`article[data-event="${id}"]`).waitFor();
  await shot('console-dead-letters');
  const first = page.locator(`article[data-event="${deadEvents[0]}"]`);
  await first.getByRole('button', { name: 'Discard' }).click();
  const discardRefused = await first.getByRole('alert').textContent();
  if (!discardRefused?.startsWith('BAD_USER_INPUT: ')) throw new Error(`discard without a reason: ${discardRefused}`);
  step(`a discard without a reason is refused: ${discardRefused}`);
  // The oldest by itself, then the rest at once.
  await first.getByRole('button', { name: 'Redrive' }).click();
  await first.getByRole('status').filter({ hasText: 'Redriven: now REDRIVEN' }).waitFor();
  if (deadEvents.length > 1) {
    await page.waitForTimeout(2000); // the page refreshes after an action
    const all = page.locator('[data-consumer="search.read-models"]');
    await all.getByRole('button', { name: 'Redrive all of search.read-models' }).click();
    await all.getByRole('status').filter({ hasText: `Redrove ${deadEvents.length - 1}` }).waitFor();
  }
  await page.getByText('No dead letters.').waitFor();
  step(`${deadEvents.length} dead letters redriven`);

  await page.goto(`${url}#/orders/${env('ORDER_ID')}`);
  await page.locator('.timeline li[data-to="PAID"]').first().waitFor();
  step('the order timeline shows PAID');
  await shot('console-order');

  if (problems.length) throw new Error(problems.join('\n'));
  step('ok');
} catch (err) {
  await shot('console-failure').catch(() => {});
  console.error(`console e2e failed: ${err?.stack ?? err}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
