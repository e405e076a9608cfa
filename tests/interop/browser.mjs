// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against wsio.
//
//   node browser.mjs [--echo NAME=ws://...]... [--chat http://...] --out DIR
//
// For each --echo server (tests/src/bin/interop-server.rs) it loads echo.html from a small
// HTTP server of its own and runs the page's checks: subprotocol and permessage-deflate
// negotiated, text and binary echoes of every size byte for byte, a close from the page
// (4001 and a reason) and one from the server (4003 and a reason). With --chat (the tokio
// chat example) it opens two pages, types in one and waits for the line in the other, and
// saves screenshots of both in DIR.
//
// Prints one line per check, `PASS <name>` or `FAIL <name>: <why>`; run.py counts them and
// checks the server's own view of each connection from its output. Exits 1 if any failed.

import { mkdtempSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const SIZES = [0, 125, 126, 65535, 65536, 1 << 20];
const TIMEOUT = 15000;

const args = { echo: [], chat: null, out: join(here, "out") };
for (let i = 2; i < process.argv.length; i += 2) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]];
  if (flag === "--echo") args.echo.push(value.split(/=(.*)/s).slice(0, 2));
  else if (flag === "--chat") args.chat = value;
  else if (flag === "--out") args.out = resolve(value);
  else throw new Error(`unknown argument ${flag}`);
}

let failed = 0;
function report(name, ok, detail) {
  if (ok) console.log(`PASS ${name}`);
  else {
    failed++;
    console.log(`FAIL ${name}: ${detail}`);
  }
}

// The echo page is served over HTTP, as a real page would be, so that the WebSocket carries
// an ordinary Origin.
function servePage() {
  const page = readFileSync(join(here, "echo.html"));
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(page);
  });
  return new Promise((done) =>
    server.listen(0, "127.0.0.1", () => done([server, `http://127.0.0.1:${server.address().port}/`])),
  );
}

async function echoChecks(context, pageUrl, name, wsUrl) {
  const page = await context.newPage();
  try {
    await page.goto(pageUrl);
    for (const r of await page.evaluate(([url, sizes]) => window.echoAll(url, sizes), [`${wsUrl}chromium-echo`, SIZES])) {
      report(`chromium→${name} ${r.name}`, r.ok, r.detail);
    }
    const r = await page.evaluate(([url]) => window.serverCloses(url, 4003, "wsio says bye ✓"), [`${wsUrl}chromium-server-closes`]);
    report(`chromium→${name} ${r.name}`, r.ok, r.detail);
  } catch (e) {
    report(`chromium→${name} echo page`, false, e.message);
  } finally {
    await page.close();
  }
}

async function chatCheck(context, chatUrl) {
  const [a, b] = [await context.newPage(), await context.newPage()];
  const lines = (page) => page.$$eval("#log p", (ps) => ps.map((p) => p.textContent));
  try {
    for (const page of [a, b]) {
      await page.setViewportSize({ width: 800, height: 600 });
      await page.goto(chatUrl);
      await page.waitForSelector("body[data-connected=yes]", { timeout: TIMEOUT });
    }
    report("chat both pages connected", true);

    const said = `hello from page A, ${new Date().toISOString()}`;
    await a.fill("#msg", said);
    await a.click("#send");
    await b.waitForFunction(
      (text) => [...document.querySelectorAll("#log p")].some((p) => /^user \d+: /.test(p.textContent) && p.textContent.endsWith(text)),
      said,
      { timeout: TIMEOUT },
    );
    report("chat A's message appears in B", true);
    const own = await lines(a);
    report("chat A shows its own line", own.includes(`me: ${said}`), JSON.stringify(own));

    // And back, so that both screenshots show a conversation.
    const reply = "hi A, B here: got it";
    await b.fill("#msg", reply);
    await b.press("#msg", "Enter");
    await a.waitForFunction(
      (text) => [...document.querySelectorAll("#log p")].some((p) => /^user \d+: /.test(p.textContent) && p.textContent.endsWith(text)),
      reply,
      { timeout: TIMEOUT },
    );
    report("chat B's reply appears in A", true);
  } catch (e) {
    report("chat", false, `${e.message.split("\n")[0]}; A: ${JSON.stringify(await lines(a).catch(() => []))}, B: ${JSON.stringify(await lines(b).catch(() => []))}`);
  } finally {
    mkdirSync(args.out, { recursive: true });
    for (const [page, tag] of [[a, "a"], [b, "b"]]) {
      const path = join(args.out, `chat-${tag}.png`);
      await page.screenshot({ path }).then(() => console.log(`screenshot: ${path}`), () => {});
    }
  }
}

const profile = mkdtempSync(join(tmpdir(), "wsio-chromium-"));
let context, pageServer;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60000,
  });
  context.setDefaultTimeout(TIMEOUT);
  report(`chromium ${context.browser()?.version() ?? "started"}`, true);
  let pageUrl;
  [pageServer, pageUrl] = await servePage();
  for (const [name, wsUrl] of args.echo) await echoChecks(context, pageUrl, name, wsUrl);
  if (args.chat) await chatCheck(context, args.chat);
} catch (e) {
  report("chromium", false, e.message.split("\n")[0]);
} finally {
  await context?.close().catch(() => {});
  pageServer?.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
