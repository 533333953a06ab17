// Issue 13, adaptive media in real Chromium: the camera goes out in three
// simulcast layers; each subscriber receives the layer its tile needs (a
// small tile a low one, a pinned person the full 720p); changing the
// layout changes the layer; a layer nobody receives is not even encoded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createAndJoin, knock, myId, newPerson, useStack, waitFor } from "./harness.mjs";

const env = useStack();

async function admit(host, person, url, code, name) {
  await knock(person.page, url, code, name);
  await host.page.getByRole("button", { name: `Admit ${name}` }).first().click();
  await person.page.locator("main.meeting").waitFor();
}

// published: the publisher's camera layers, by rid: what the sender's
// parameters say (active) and what the encoder put out (bytes, frame size).
function published(page) {
  return page.evaluate(async () => {
    const pc = window.__veet.client.media.publishPC;
    const sender = pc.getSenders().find((s) => s.track?.kind === "video");
    const params = sender.getParameters().encodings;
    const out = {};
    for (const e of params) out[e.rid ?? ""] = { active: e.active, bytes: 0, width: 0 };
    (await sender.getStats()).forEach((s) => {
      if (s.type !== "outbound-rtp") return;
      const o = (out[s.rid ?? ""] ??= { active: undefined });
      Object.assign(o, { bytes: s.bytesSent ?? 0, width: s.frameWidth ?? 0, frames: s.framesEncoded ?? 0, limit: s.qualityLimitationReason });
    });
    return out;
  });
}

// received: per remote video track ("<participant>-camera"), the size of
// the frames decoded now.
function received(page) {
  return page.evaluate(async () => {
    const byMid = new Map(window.__veet.tracks().filter((t) => t.mid).map((t) => [t.mid, t.trackId]));
    const out = {};
    (await window.__veet.client.media.subscribePC.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "video") return;
      const id = byMid.get(s.mid);
      if (id) out[id] = { width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, frames: s.framesDecoded ?? 0 };
    });
    return out;
  });
}

// The layer a tile of this height should get (PROTOCOL.md, video_sizes:
// the smallest layer at least as tall as the tile), as a frame width.
const LAYERS = [180, 360, 720];
const widthFor = (tileHeight) => ((LAYERS.find((l) => l >= tileHeight) ?? 720) * 16) / 9;

// pin pins (or unpins) pid's tile, unless it is so already.
async function pin(page, pid, name, verb = "Pin") {
  await page.locator(`.tile[data-participant="${pid}"]:not(.screen)`).hover();
  const other = verb === "Pin" ? "Unpin" : "Pin";
  if (await page.getByRole("button", { name: `${other} ${name}`, exact: true }).count()) return;
  await page.getByRole("button", { name: `${verb} ${name}`, exact: true }).click();
}

async function chooseLayout(page, label) {
  await page.getByRole("button", { name: "More options" }).click();
  await page.getByRole("menuitem", { name: "Change layout" }).click();
  await page.getByRole("radio", { name: label, exact: true }).check();
  await page.getByRole("dialog", { name: "Adjust view" }).getByRole("button", { name: "Close" }).click();
}

const tileOf = async (page, pid) => (await page.evaluate(() => window.__veet.visibleTiles())).find((t) => t.participantId === pid && t.source === "camera");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const since = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

// receivesAt waits until `page` decodes pid's camera at `width` (frames
// still coming), and says how long it took.
// A failure also says what the publisher (`from`) encodes.
async function receivesAt(page, pid, width, what, { from = null, timeoutMs = 30_000 } = {}) {
  const t0 = Date.now();
  let prev = 0;
  await waitFor(what, async () => {
    const r = (await received(page))[`${pid}-camera`];
    const ok = r && r.width === width && r.frames > prev;
    prev = r?.frames ?? 0;
    if (!ok) throw new Error(`received ${JSON.stringify(r)}` + (from ? `, published ${JSON.stringify(await published(from))}` : ""));
    return true;
  }, { timeoutMs, everyMs: 500 });
  console.log(`${what}: ${since(t0)}`);
}

// encodes waits until the publisher encodes exactly the layers `on`: the
// others inactive in its parameters and their bytes no longer growing.
async function encodes(page, on, what, timeoutMs = 15_000) {
  const t0 = Date.now();
  let prev = await published(page);
  await waitFor(what, async () => {
    await sleep(1000);
    const cur = await published(page);
    const seen = Object.fromEntries(Object.entries(cur).map(([rid, o]) => [rid, { active: o.active, grew: o.bytes - (prev[rid]?.bytes ?? 0) }]));
    prev = cur;
    const ok = Object.entries(seen).every(([rid, o]) => (on.includes(rid) ? o.active && o.grew > 0 : !o.active && o.grew === 0));
    if (!ok) throw new Error(JSON.stringify(seen));
    return true;
  }, { timeoutMs, everyMs: 0 });
  console.log(`${what}: ${since(t0)}`);
}

// Reaching 1280×720 needs the node to keep a publisher's top layer on even
// before a packet of it came: Chrome holds the 720p layer back until its
// own bandwidth estimate covers all three (~2.2 Mbit/s), and a
// publish_layers that left it out would pause it for good. The node takes
// the layers from the offer's a=rid lines (sfu/publish.go offeredRIDs).
test("simulcast: three layers out, the layer each tile needs in, unwatched layers paused", { timeout: 150_000 }, async (t) => {
  const { stack, browser } = env;
  const hana = await newPerson(browser, stack.url);
  const code = await createAndJoin(hana.page, stack.url, "Hana Host");
  const ada = await newPerson(browser, stack.url);
  await admit(hana, ada, stack.url, code, "Ada Lovelace");
  // Alan's window starts small: a grid of three small tiles.
  const alan = await newPerson(browser, stack.url, { width: 640, height: 400 });
  await admit(hana, alan, stack.url, code, "Alan Turing");
  const [hid, aid, lid] = [await myId(hana.page), await myId(ada.page), await myId(alan.page)];
  // What Alan tells the node (video_sizes), kept for the checks below.
  await alan.page.evaluate(() => {
    const sig = window.__veet.client.sig;
    window.__sizes = [];
    const send = sig.socket.send.bind(sig.socket);
    sig.socket.send = (d) => { const m = JSON.parse(d); if (m.action === "video_sizes") window.__sizes.push(m); send(d); };
  });
  // lastSizes: the sizes Alan reported last, by participant.
  const lastSizes = () => alan.page.evaluate(() => {
    const m = window.__sizes.at(-1);
    if (!m || m.session !== window.__veet.client.media.id) return null;
    const byMid = new Map(window.__veet.tracks().map((t) => [t.mid, t.participantId]));
    return Object.fromEntries(m.sizes.map((s) => [byMid.get(s.mid), [s.width, s.height]]));
  });

  await t.test("(a) the camera goes out in three layers, low to high, 720p captured", async () => {
    const rids = await hana.page.evaluate(() => window.__veet.client.media.publishPC.getSenders().find((s) => s.track?.kind === "video").getParameters().encodings.map((e) => e.rid));
    assert.deepEqual(rids, ["q", "h", "f"], "three simulcast encodings negotiated");
    await waitFor("Hana's encoder puts out the quarter and half layers", async () => {
      const o = await published(hana.page);
      return o.q?.width === 320 && o.h?.width === 640 && o.q.frames > 0 && o.h.frames > 0 && "f" in o;
    }, { timeoutMs: 20_000 });
  });

  await t.test("(b) small tiles get the quarter layer, larger tiles the layer that fits", async () => {
    const small = await tileOf(alan.page, hid);
    assert.ok(small && small.height <= 180, `Alan's tiles are small: ${JSON.stringify(small)}`);
    await receivesAt(alan.page, hid, 320, "a small tile receives the 320×180 layer");
    await receivesAt(alan.page, aid, 320, "every small tile does");
    // A larger window: the grid's tiles grow, and so does the layer.
    await alan.page.setViewportSize({ width: 1280, height: 720 });
    await waitFor("Alan's tiles grow", async () => (await tileOf(alan.page, hid))?.height > 180);
    const medium = await tileOf(alan.page, hid);
    await waitFor("Alan reports the new sizes", async () => {
      const s = await lastSizes();
      return s?.[hid]?.[0] === medium.width && s[hid][1] === medium.height && s[aid] && !s[lid] ? s : null;
    });
    await receivesAt(alan.page, hid, widthFor(medium.height), `a ${medium.width}×${medium.height} tile receives the layer that fits`);
    // Pinned: Hana large, Ada in the column beside at the quarter layer.
    await pin(alan.page, hid, "Hana Host");
    await waitFor("Hana large at Alan, Ada small", async () => (await tileOf(alan.page, hid))?.height > 360 && (await tileOf(alan.page, aid))?.height <= 180);
    await receivesAt(alan.page, aid, 320, "the small tile beside a pin receives 320×180");
  });

  await t.test("(b, c) the pinned participant reaches 1280×720; pinning another swaps the layers", async () => {
    await pin(alan.page, hid, "Hana Host");
    await receivesAt(alan.page, hid, 1280, "the pinned participant reaches 1280×720", { from: hana.page, timeoutMs: 25_000 });
    await pin(alan.page, aid, "Ada Lovelace");
    await receivesAt(alan.page, aid, 1280, "Ada pinned: 1280×720", { from: ada.page, timeoutMs: 25_000 });
    await receivesAt(alan.page, hid, 320, "Hana beside: 320×180");
  });

  await t.test("(c) pinning another swaps the small and the large tile's layers", async () => {
    await pin(alan.page, aid, "Ada Lovelace");
    await waitFor("Ada large at Alan, Hana small", async () => (await tileOf(alan.page, aid))?.height > 360 && (await tileOf(alan.page, hid))?.height <= 180);
    await receivesAt(alan.page, hid, 320, "Hana, now beside the pin, drops to 320×180");
    const r = await received(alan.page);
    assert.ok(r[`${aid}-camera`].width >= 640, `Ada, pinned, at more than the quarter layer: ${JSON.stringify(r)}`);
  });

  await t.test("(d) a layer nobody receives is not encoded; nobody watching pauses all", async () => {
    // Ada pins Alan too: Hana is small everywhere, so nobody receives her
    // half and full layers and her browser stops encoding them.
    await pin(ada.page, lid, "Alan Turing");
    await encodes(hana.page, ["q"], "Hana encodes only the quarter layer");
    // Both in spotlight on someone else: nobody sees Hana at all.
    await chooseLayout(ada.page, "Spotlight");
    await chooseLayout(alan.page, "Spotlight");
    await waitFor("Alan reports Ada alone", async () => JSON.stringify(Object.keys((await lastSizes()) ?? {})) === JSON.stringify([aid]));
    await encodes(hana.page, [], "Hana encodes nothing while nobody watches her");
    // Back to the grid: the layer Alan needs comes back.
    await chooseLayout(alan.page, "Auto");
    await pin(alan.page, aid, "Ada Lovelace", "Unpin");
    await waitFor("a grid at Alan", async () => (await tileOf(alan.page, hid))?.height > 180);
    const back = await tileOf(alan.page, hid);
    await receivesAt(alan.page, hid, widthFor(back.height), "Hana back in Alan's grid at the layer that fits", { from: hana.page });
  });

  await t.test("a presentation is one sharp layer, not simulcast", async () => {
    await ada.page.getByRole("button", { name: "Present now" }).click();
    const screen = await waitFor("Ada's presentation sender", () => ada.page.evaluate(() => {
      const s = window.__veet.client.media.publishPC.getSenders().find((x) => x.track?.kind === "video" && x.track.contentHint);
      return s ? { hint: s.track.contentHint, encodings: s.getParameters().encodings.map((e) => ({ rid: e.rid ?? null, maxBitrate: e.maxBitrate })) } : null;
    }));
    assert.deepEqual(screen, { hint: "detail", encodings: [{ rid: null, maxBitrate: 2_500_000 }] });
  });

  for (const [i, p] of [hana, ada, alan].entries()) assert.deepEqual(p.errors.filter((e) => !/favicon/.test(e)), [], `page ${i} errors`);
  for (const p of [hana, ada, alan]) await p.context.close();
});
