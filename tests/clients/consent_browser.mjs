// A person at the browser, for clients that open one (mcp-remote runs $BROWSER <url>): headless
// Chromium follows the sign-in to JIVE's consent page, clicks Allow, and waits until the
// client's redirect URI has been reached. Usage: node consent_browser.mjs <url>
import { chromium } from "playwright-core";

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--ignore-certificate-errors"], // the GitHub stand-in's test CA
});
let code = 0;
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector("#approve", { timeout: 20000 });
  const consent = new URL(page.url()).origin;
  await Promise.all([
    page.waitForURL((u) => u.origin !== consent, { timeout: 20000 }),
    page.click("#approve"),
  ]);
  await page.waitForLoadState("load");
} catch (e) {
  console.error(String(e));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
