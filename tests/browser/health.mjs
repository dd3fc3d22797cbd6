// Checks that the dashboard shows what /healthz counts about click rows that could not be
// written (docs/clicks.md): signs in and waits for the banner to say EXPECTED.
// usage: node health.mjs BASE_URL ADMIN_TOKEN EXPECTED_TEXT SCREENSHOT_PATH
import { chromium } from "playwright-core";

const [base, token, expected, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_BIN || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 700 } });
  await page.goto(`${base}/admin`);
  await page.fill("#token", token);
  await page.click("#sign-in-form button[type=submit]");
  await page.waitForSelector("#health:not([hidden])", { timeout: 15000 });
  const text = await page.textContent("#health");
  await page.screenshot({ path: screenshot, fullPage: true });
  if (!text.includes(expected)) throw new Error(`banner says ${JSON.stringify(text)}, expected ${JSON.stringify(expected)}`);
  console.log(`banner: ${text}`);
} finally {
  await browser.close();
}
