// Drives the dashboard in Debian's Chromium (playwright-core), as a user would:
// sign in, see a postback in the live log, open a conversion, run the tester, replay a
// failed delivery and see the new attempt, read the report; saves screenshots.
// usage: node dashboard.mjs BASE_URL ADMIN_TOKEN CLICK_ID FAILED_DELIVERY_ID OUT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, token, clickId, deliveryId, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const shot = (page, name) => page.screenshot({ path: `${outDir}/${name}.png`, fullPage: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });

try {
  await page.goto(`${base}/admin`);
  await shot(page, "01-sign-in");
  // A wrong token is refused.
  await page.fill("#token", "not-the-token-at-all");
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#sign-in-error:not([hidden])");
  await page.fill("#token", token);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#postbacks:not([hidden])");
  problems.length = 0; // the refused token above logged an expected 401

  // A postback sent now shows up in the live log with its outcome.
  const sent = await fetch(`${base}/postback?clickid=${clickId}&payout=3.25&txid=browser-1`);
  if (sent.status !== 200) throw new Error(`postback answered ${sent.status}`);
  const refused = await fetch(`${base}/postback?clickid=${clickId.slice(0, 31)}&txid=browser-2`);
  if (refused.status !== 400) throw new Error(`bad postback answered ${refused.status}`);
  const row = page.locator("#postbacks-table tbody tr", { hasText: clickId }).filter({ has: page.locator("[data-outcome=accepted]") });
  await row.first().waitFor({ timeout: 15000 });
  await page.locator("#postbacks-table [data-outcome=invalid_click_id]").first().waitFor({ timeout: 15000 });
  await shot(page, "02-postback-log");

  // Conversions, with history.
  await page.click("button[data-tab=conversions]");
  await page.locator("#conversions-table tbody tr").first().waitFor();
  await page.locator("#conversions-table tbody tr").first().click();
  await page.waitForSelector("#conversion-detail:not([hidden]) h4");
  await shot(page, "03-conversions");

  // The tester.
  await page.click("button[data-tab=tester]");
  await page.fill("#tester-campaign", "fw");
  await page.fill("#tester-params", '{"payout": "9", "status": "approved", "txid": "browser-tester"}');
  await page.click("#tester-form button[type=submit]");
  await page.locator("#tester-result [data-outcome=accepted]").waitFor({ timeout: 15000 });
  const result = JSON.parse(await page.textContent("#tester-json"));
  if (!result.test || result.auth.mode !== "bypassed") throw new Error(`tester result: ${JSON.stringify(result)}`);
  await shot(page, "04-tester");

  // Replay a failed delivery and see the new attempt.
  await page.click("button[data-tab=deliveries]");
  await page.selectOption("#deliveries-state", "failed");
  const failed = page.locator(`#deliveries-table tr[data-delivery="${deliveryId}"]`);
  await failed.waitFor({ timeout: 15000 });
  await shot(page, "05-deliveries-failed");
  await failed.locator("button.replay").click();
  await page.selectOption("#deliveries-state", "");
  let delivered = false;
  for (let i = 0; i < 30 && !delivered; i += 1) {
    await page.waitForTimeout(500);
    await page.selectOption("#deliveries-state", i % 2 ? "" : "delivered");
    const candidate = page.locator(`#deliveries-table tr[data-delivery="${deliveryId}"]`);
    if ((await candidate.count()) > 0) {
      const stateText = await candidate.locator("[data-outcome]").textContent();
      const attempts = await candidate.locator("td.attempts").textContent();
      delivered = stateText === "delivered" && attempts === "2";
    }
  }
  if (!delivered) throw new Error("the replayed delivery did not show delivered with 2 attempts");
  await page.locator(`#deliveries-table tr[data-delivery="${deliveryId}"] td.attempts`).click();
  const attemptLog = await page.textContent("#delivery-detail pre");
  if (!attemptLog.includes("#1") || !attemptLog.includes("410") || !attemptLog.includes("#2")) {
    throw new Error(`attempt log: ${attemptLog}`);
  }
  await shot(page, "06-deliveries-replayed");

  // The report with its chart.
  await page.click("button[data-tab=report]");
  await page.click("#report-form button[type=submit]");
  await page.locator("#report-chart rect.clicks").first().waitFor({ timeout: 15000 });
  await shot(page, "07-report");

  // Usable at phone width.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click("button[data-tab=postbacks]");
  await page.locator("#postbacks-table tbody tr").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 2) throw new Error(`the page is ${overflow}px wider than a phone screen`);
  await shot(page, "08-phone");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("dashboard ok");
} catch (error) {
  await shot(page, "failure").catch(() => {});
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
