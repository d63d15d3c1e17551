// Opens JIVE's live board in headless Chromium as a person would, and reports what it shows.
// Usage: node board_browser.mjs <board-url-with-#token=...> <screenshot.png> <watch-key> <to-status>
// Prints {"ready": ...} once the board shows its cards (and the screenshot is taken), then,
// after the test has pushed, {"moved": ...} when the card watch-key sits in the column
// to-status (or the wait ran out), with every URL the page requested and whether it reloaded.
// With watch-key "-" it prints the first line only (for a token that must see nothing). A fifth
// argument "signin" opens the board without a token and signs in with GitHub first (the stand-in
// approves at once; Allow is clicked on JIVE's consent page).
import { chromium } from "playwright-core";

const [url, shot, key, to, mode] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         ...(mode === "signin" ? ["--ignore-certificate-errors"] : [])],
});
const out = { requests: [], console: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.on("request", (r) => out.requests.push(r.url()));
  page.on("console", (m) => out.console.push(m.type() + ": " + m.text()));
  page.on("pageerror", (e) => out.console.push("pageerror: " + e.message));
  let navigations = 0;
  page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations++; });
  await page.goto(url);
  if (mode === "signin") {
    await page.click("#github", { timeout: 20000 });
    await page.click("#approve", { timeout: 20000 });
    await page.waitForURL((u) => u.pathname.startsWith("/board/") &&
                          u.pathname !== "/board/signed-in", { timeout: 20000 });
  }
  await page.waitForFunction(() => Number(document.body.dataset.loaded || 0) > 0 ||
                             document.getElementById("message").textContent !== "",
                             null, { timeout: 20000 });
  const columns = await page.$$eval(".column", (cs) => cs.map((c) => ({
    status: c.dataset.status, cards: [...c.querySelectorAll(".card")].map((k) => k.dataset.key) })));
  const findings = await page.$$eval("#findings li", (ls) => ls.map((l) => l.textContent));
  const gates = await page.$$eval(".gate", (gs) => gs.map((g) => g.textContent));
  const message = await page.textContent("#message");
  await page.evaluate(() => { window.jiveMarker = "same page"; });
  if (shot !== "-") await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ ready: true, columns, findings, gates, message,
                               title: await page.title() }));
  if (key !== "-") {
    const moved = await page.waitForFunction(([k, s]) => {
      const col = document.querySelector(`.column[data-status="${s}"]`);
      return col && [...col.querySelectorAll(".card")].some((c) => c.dataset.key === k);
    }, [key, to], { timeout: 30000 }).then(() => true, () => false);
    out.moved = moved;
    out.same_page = (await page.evaluate(() => window.jiveMarker)) === "same page";
    out.navigations = navigations;
    out.live = await page.textContent("#live");
  }
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
