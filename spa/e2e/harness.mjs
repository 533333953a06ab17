// Shared by the browser tests: the local stack, one Chromium, and helpers
// that wait for what a user would see (every wait is bounded).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const spaDir = resolve(here, "..");
// The tests take the README's pictures as they go; they land in
// build/screenshots unless SCREENSHOTS_DIR says otherwise (`make pictures`
// refreshes docs/), so that a test run leaves the checkout as it was.
export const docsDir = process.env.SCREENSHOTS_DIR || resolve(spaDir, "../build/screenshots");

// startStack runs build/veet-local (built by `make local`) on a free port and
// resolves with its URL once it prints "veet is running: open URL".
export function startStack({ timeoutMs = 30_000 } = {}) {
  if (!existsSync(resolve(spaDir, "dist/index.html"))) {
    return Promise.reject(new Error("spa/dist is missing: run `npm run build` (make test-spa does) first"));
  }
  const bin = process.env.VEET_LOCAL || resolve(spaDir, "../build/veet-local");
  const proc = spawn(bin, ["-addr", "127.0.0.1:0", "-nodes", "1", "-spa", "dist"], {
    cwd: spaDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  // VEET_E2E_LOG=file keeps the stack's whole log there, for a failure's post-mortem.
  const file = process.env.VEET_E2E_LOG;
  const keep = (line) => {
    log.push(line);
    if (log.length > 400) log.shift();
    if (file) appendFileSync(file, line + "\n");
  };
  createInterface({ input: proc.stderr }).on("line", keep);
  const stop = () =>
    new Promise((res) => {
      if (proc.exitCode !== null) return res();
      proc.once("exit", res);
      proc.kill("SIGTERM");
      setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
    });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      void stop();
      rej(new Error(`veet-local did not print its URL within ${timeoutMs} ms:\n${log.join("\n")}`));
    }, timeoutMs);
    proc.once("error", (err) => {
      clearTimeout(timer);
      rej(new Error(`cannot start ${bin} (run \`make local\` first): ${err.message}`));
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      rej(new Error(`veet-local exited with ${code}:\n${log.join("\n")}`));
    });
    createInterface({ input: proc.stdout }).on("line", (line) => {
      keep(line);
      const m = /veet is running: open (http:\/\/\S+?)\/?$/.exec(line);
      if (m) {
        clearTimeout(timer);
        res({ url: m[1], stop, log });
      }
    });
  });
}

// useStack starts the stack and a browser before a test file's tests and
// stops them after; the returned object holds both once they run.
export function useStack() {
  const env = { stack: null, browser: null };
  before(async () => {
    env.stack = await startStack();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.stack?.stop();
  });
  return env;
}

export async function launchBrowser() {
  // playwright-core creates a fresh temporary profile for each launch.
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--allow-loopback-in-peer-connection",
      "--autoplay-policy=no-user-gesture-required",
    ],
    timeout: 30_000,
  });
}

// newPerson opens a page in its own context (its own sessionStorage, so its
// own token), with camera and microphone allowed.
export async function newPerson(browser, baseUrl, viewport = { width: 1280, height: 720 }) {
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(["camera", "microphone", "clipboard-read", "clipboard-write"], { origin: baseUrl });
  // Keep every captured track, so a test can check that the camera, the
  // microphone and a presentation are released (the camera light goes off).
  await context.addInitScript(() => {
    const md = navigator.mediaDevices;
    window.__captures = [];
    for (const name of ["getUserMedia", "getDisplayMedia"]) {
      const orig = md?.[name]?.bind(md);
      if (!orig) continue;
      md[name] = async (c) => {
        const s = await orig(c);
        for (const t of s.getTracks()) window.__captures.push({ what: name === "getDisplayMedia" ? "screen" : t.kind, track: t });
        return s;
      };
    }
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  // The UI asks with its own dialogs; a native one would be a regression.
  page.on("dialog", (d) => {
    errors.push(`unexpected native dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { context, page, errors };
}

// waitFor polls fn until it returns a truthy value or the time is up; the
// failure names what was awaited and the last value seen.
export async function waitFor(what, fn, { timeoutMs = 15_000, everyMs = 250 } = {}) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${fmt(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const fmt = (v) => (v instanceof Error ? v.message : JSON.stringify(v));

// --- flows -------------------------------------------------------------

// createAndJoin starts an instant meeting from the home page, joins it as
// its host and closes the "Your meeting's ready" card (keep: leave it up).
export async function createAndJoin(page, baseUrl, name, { keepReadyCard = false } = {}) {
  await page.goto(baseUrl + "/");
  await page.getByRole("button", { name: "New meeting" }).click();
  await page.getByRole("menuitem", { name: "Start an instant meeting" }).click();
  await page.waitForURL(/\/[a-z]{3}-[a-z]{4}-[a-z]{3}$/);
  const code = new URL(page.url()).pathname.slice(1);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join now" }).click();
  await page.locator("main.meeting").waitFor();
  const card = page.getByRole("dialog", { name: "Your meeting's ready" });
  await card.waitFor();
  if (!keepReadyCard) await card.getByRole("button", { name: "Close" }).click();
  return code;
}

export async function knock(page, baseUrl, code, name) {
  await page.goto(`${baseUrl}/${code}`);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Ask to join" }).click();
  await page.getByText("Asking to be let in").waitFor();
}

export const myId = (page) => page.evaluate(() => window.__veet?.client?.you?.id ?? null);

// inbound returns, per remote track as the SFU names it ("<participant>-<source>"),
// what the subscribe PeerConnection has received so far. The name comes from
// the subscribe offer's list by mid, as the client maps tracks: a browser
// that reuses a transceiver keeps its old MediaStreamTrack id.
export function inbound(page) {
  return page.evaluate(async () => {
    const out = {};
    const byMid = new Map(window.__veet.tracks().filter((t) => t.mid).map((t) => [t.mid, t.trackId]));
    for (const pc of window.__veet.pcs()) {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        const id = (s.mid && byMid.get(s.mid)) || s.trackIdentifier;
        if (!id) return;
        // reports: the sender reports the browser accepted (remote-outbound-rtp):
        // what it syncs audio with video by.
        const reports = stats.get(s.remoteId)?.reportsSent ?? 0;
        out[id] = { kind: s.kind, packets: s.packetsReceived ?? 0, frames: s.framesDecoded ?? 0, reports };
      });
    }
    return out;
  });
}

// startProxy forwards a loopback port to the stack, so that a test can cut
// one person's connection to the signaling (browsers on loopback ignore
// Playwright's setOffline); media goes straight to the SFU and is not cut.
export async function startProxy(targetUrl) {
  const net = await import("node:net");
  const { hostname, port } = new URL(targetUrl);
  const sockets = new Set();
  let server = null;
  let listenPort = 0;
  const listen = () => new Promise((res, rej) => {
    server = net.createServer((c) => {
      const up = net.connect(Number(port), hostname);
      for (const s of [c, up]) sockets.add(s);
      const done = () => { c.destroy(); up.destroy(); sockets.delete(c); sockets.delete(up); };
      c.pipe(up); up.pipe(c);
      for (const s of [c, up]) { s.on("error", done); s.on("close", done); }
    });
    server.once("error", rej);
    server.listen(listenPort, "127.0.0.1", () => { listenPort = server.address().port; res(); });
  });
  await listen();
  return {
    url: `http://127.0.0.1:${listenPort}`,
    cut: () => new Promise((res) => { for (const s of sockets) s.destroy(); sockets.clear(); server.close(() => res()); }),
    restore: listen,
    close: () => new Promise((res) => { for (const s of sockets) s.destroy(); server.close(() => res()); }),
  };
}

// growing resolves when every listed counter of `page` rose between two
// samples taken `gapMs` apart.
export async function waitGrowing(page, ids, field, what, timeoutMs = 20_000) {
  let prev = await inbound(page);
  return waitFor(what, async () => {
    await new Promise((r) => setTimeout(r, 700));
    const cur = await inbound(page);
    const ok = ids.every((id) => cur[id] && prev[id] && cur[id][field] > prev[id][field]);
    const seen = Object.fromEntries(ids.map((id) => [id, [prev[id]?.[field], cur[id]?.[field]]]));
    prev = cur;
    return ok ? cur : (() => { throw new Error(JSON.stringify(seen)); })();
  }, { timeoutMs, everyMs: 0 });
}

// videoPlaying: the tile of participant pid on this page shows a decoded video.
export function tileVideoWidth(page, pid) {
  return page.evaluate((id) => {
    const tile = document.querySelector(`.tile[data-participant="${id}"]:not(.screen)`);
    const v = tile?.querySelector("video");
    return tile?.dataset.video === "true" && v ? v.videoWidth : 0;
  }, pid);
}

// liveCaptures lists what the page still captures: "audio", "video", "screen".
export function liveCaptures(page) {
  return page.evaluate(() => window.__captures.filter((c) => c.track.readyState === "live").map((c) => c.what).sort());
}

export function tileIds(page) {
  return page.evaluate(() => [...document.querySelectorAll(".tile[data-participant]")].map((t) => t.dataset.participant));
}

// picture takes a README picture of page: the pointer moved off the tiles
// first, and the hover controls given time to fade.
export async function picture(page, name) {
  await page.mouse.move(1, 1);
  await new Promise((r) => setTimeout(r, 400));
  await page.screenshot({ path: shotPath(name) });
}

export function shotPath(name) {
  mkdirSync(docsDir, { recursive: true });
  return resolve(docsDir, name);
}
