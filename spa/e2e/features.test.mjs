// Issue 16: what a Meet user reaches for besides media — the share card,
// the knock chime and tab title, chat (history for a late joiner, turned
// off by a host), reactions, the hand queue, the settings dialog
// (microphone switched mid-call, the speaker picker, the level meter) and
// every layout — in one meeting of three, to keep the suite short.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createAndJoin, knock, myId, newPerson, picture, tileIds, useStack, waitFor, waitGrowing,
} from "./harness.mjs";

const env = useStack();

const chatTexts = (page) => page.evaluate(() => [...document.querySelectorAll(".chat-list .chat-text")].map((e) => e.textContent));
const visible = (page) => page.evaluate(() => window.__veet.visibleTiles());

async function admit(host, person, url, code, name) {
  await knock(person.page, url, code, name);
  await host.page.getByRole("button", { name: `Admit ${name}` }).first().click();
  await person.page.locator("main.meeting").waitFor();
}

async function chooseLayout(page, label) {
  await page.getByRole("button", { name: "More options" }).click();
  await page.getByRole("menuitem", { name: "Change layout" }).click();
  await page.getByRole("radio", { name: label, exact: true }).check();
  await page.getByRole("dialog", { name: "Adjust view" }).getByRole("button", { name: "Close" }).click();
}

test("a meeting for later: the link to share, then join from it as host", { timeout: 30_000 }, async () => {
  const { stack, browser } = env;
  const { page, context } = await newPerson(browser, stack.url);
  await page.goto(stack.url + "/");
  await page.getByRole("button", { name: "New meeting" }).click();
  await page.getByRole("menuitem", { name: "Create a meeting for later" }).click();
  const dlg = page.getByRole("dialog", { name: "Here's your joining info" });
  const link = await dlg.getByRole("textbox", { name: "Meeting link" }).inputValue();
  assert.match(link, new RegExp(`^${stack.url}/[a-z]{3}-[a-z]{4}-[a-z]{3}$`));
  await dlg.getByRole("button", { name: "Copy meeting link" }).click();
  await dlg.getByText("Copied").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  assert.equal(page.url(), stack.url + "/", "nobody joins a meeting for later");
  await dlg.getByRole("button", { name: "Join now" }).click();
  await page.waitForURL(link);
  await page.getByRole("button", { name: "Join now" }).waitFor(); // the host's token: no knock
  await context.close();
});

test("chat, reactions, the hand queue, devices and layouts in a meeting of three", { timeout: 240_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host", { keepReadyCard: true });
  const card = host.page.getByRole("dialog", { name: "Your meeting's ready" });
  assert.equal(await card.getByRole("textbox", { name: "Meeting link" }).inputValue(), `${stack.url}/${code}`);
  await card.getByRole("button", { name: "Close" }).click();

  // A knock: a chime and the tab's title, for a host looking elsewhere.
  const ada = await newPerson(browser, stack.url);
  await knock(ada.page, stack.url, code, "Ada Lovelace");
  await waitFor("the host's tab title says who knocks", async () => /Ada Lovelace wants to join/.test(await host.page.title()));
  assert.ok(await host.page.evaluate(() => window.__veet.chimes()) >= 1, "a knock chimes");
  await host.page.getByRole("button", { name: "Admit Ada Lovelace" }).first().click();
  await ada.page.locator("main.meeting").waitFor();
  await waitFor("the title back to the meeting's", async () => (await host.page.title()) === `veet – ${code}`);
  const [hid, aid] = [await myId(host.page), await myId(ada.page)];

  // Chat: a name and a message that look like HTML are shown as text; the
  // closed panel counts what came in.
  await host.page.getByRole("button", { name: /^Chat with everyone/ }).click();
  const hostInput = host.page.getByLabel("Send a message to everyone");
  await hostInput.fill("Hello <b>everyone</b>");
  await hostInput.press("Enter");
  await ada.page.getByRole("button", { name: "Chat with everyone (1 unread)" }).click();
  await waitFor("the message at Ada", async () => (await chatTexts(ada.page)).includes("Hello <b>everyone</b>"));
  assert.equal(await ada.page.locator(".chat-list b").count(), 0, "no markup from a message");
  await ada.page.getByLabel("Send a message to everyone").fill("Hi Hana, slides: https://example.com/deck");
  await ada.page.getByRole("button", { name: "Send message" }).click();
  await waitFor("Ada's reply at the host", async () => (await chatTexts(host.page)).length === 2);
  assert.equal(await host.page.locator(".chat-list a[href='https://example.com/deck']").count(), 1, "a web address is a link");

  // Reactions float over the sender's tile, everywhere.
  await ada.page.getByRole("button", { name: "Send a reaction" }).click();
  await ada.page.getByRole("toolbar", { name: "Reactions" }).getByRole("button", { name: "Celebrate" }).click();
  for (const p of [host, ada]) {
    await waitFor("🎉 over Ada's tile", () => p.page.evaluate((id) =>
      [...document.querySelectorAll(`.tile[data-participant="${id}"] .tile-reaction`)].some((e) => e.textContent === "🎉"), aid), { everyMs: 100 });
  }
  await ada.page.getByRole("button", { name: "Send a reaction" }).click(); // closes the bar

  // Settings mid-call: the level meter moves, another microphone goes out
  // on the same sender (no new offer), and the host keeps hearing Ada.
  await ada.page.getByRole("button", { name: "More options" }).click();
  await ada.page.getByRole("menuitem", { name: "Settings" }).click();
  const settings = ada.page.getByRole("dialog", { name: "Settings" });
  await waitFor("the microphone level meter moves", async () => Number(await settings.getByRole("meter", { name: "Microphone level" }).getAttribute("aria-valuenow")) > 0, { everyMs: 50 });
  const before = await ada.page.evaluate(() => {
    const c = window.__veet.client;
    c.media.publishPC.__before = true;
    window.__offers = 0;
    const send = c.sig.socket.send.bind(c.sig.socket);
    c.sig.socket.send = (d) => { if (JSON.parse(d).action === "publish_offer") window.__offers++; send(d); };
    return c.media.publishPC.getSenders().find((s) => s.track?.kind === "audio").track.label;
  });
  await settings.getByRole("combobox", { name: "Microphone" }).selectOption({ label: "Fake Audio Input 1" });
  await waitFor("Ada's audio sender carries the new microphone", () => ada.page.evaluate(() =>
    window.__veet.client.media.publishPC.getSenders().find((s) => s.track?.kind === "audio")?.track.label === "Fake Audio Input 1"));
  const after = await ada.page.evaluate(() => {
    const c = window.__veet.client;
    return { label: c.media.publishPC.getSenders().find((s) => s.track?.kind === "audio").track.label, same: c.media.publishPC.__before === true, offers: window.__offers };
  });
  assert.deepEqual(after, { label: "Fake Audio Input 1", same: true, offers: 0 }, `switched from ${before} without renegotiating`);
  await waitGrowing(host.page, [`${aid}-microphone`], "packets", "the host keeps hearing Ada after the switch");
  // The speaker picker: every remote voice goes to the chosen output.
  await settings.getByRole("combobox", { name: "Speakers" }).selectOption({ label: "Fake Audio Output 1" });
  const sinks = () => ada.page.evaluate(() => [...document.querySelectorAll(".audio-sink audio")].map((a) => a.sinkId));
  const chosen = await settings.getByRole("combobox", { name: "Speakers" }).inputValue();
  await waitFor("Ada hears the host on Fake Audio Output 1", async () => { const s = await sinks(); return s.length === 1 && s[0] === chosen; });
  await picture(ada.page, "settings.png");
  await settings.getByRole("button", { name: "Close" }).click();

  // A late joiner sees what was said; Ada's speaker choice holds for them.
  const alan = await newPerson(browser, stack.url);
  await alan.page.goto(`${stack.url}/${code}`);
  await alan.page.getByRole("button", { name: "Settings" }).click(); // the same dialog before joining
  const pre = alan.page.getByRole("dialog", { name: "Settings" });
  assert.ok((await pre.getByRole("combobox", { name: "Speakers" }).locator("option").count()) >= 2, "outputs listed before joining");
  await pre.getByRole("button", { name: "Close" }).click();
  await admit(host, alan, stack.url, code, "Alan Turing");
  const lid = await myId(alan.page);
  await alan.page.getByRole("button", { name: /^Chat with everyone/ }).click();
  await waitFor("the history at the late joiner", async () => JSON.stringify(await chatTexts(alan.page)) ===
    JSON.stringify(["Hello <b>everyone</b>", "Hi Hana, slides: https://example.com/deck"]));
  await waitFor("both voices go to Ada's chosen speaker", async () => { const s = await sinks(); return s.length === 2 && s.every((x) => x === chosen); });

  // The hand queue: in the order hands went up, a toast to the host, and
  // "Lower all".
  await alan.page.getByRole("button", { name: "Raise hand" }).click();
  await host.page.getByText("Alan Turing raised a hand").waitFor();
  await ada.page.getByRole("button", { name: "Raise hand" }).click();
  await host.page.getByText("Ada Lovelace raised a hand").waitFor();
  await host.page.getByRole("button", { name: /^Show everyone/ }).click();
  const queue = host.page.getByRole("region", { name: "Raised hands" });
  await waitFor("two in the queue, Alan first", async () => JSON.stringify(await queue.locator("li").evaluateAll((ls) => ls.map((l) => l.dataset.participant))) === JSON.stringify([lid, aid]));
  await picture(host.page, "hands.png");
  await queue.getByRole("button", { name: "Lower all" }).click();
  await ada.page.getByRole("button", { name: "Raise hand" }).waitFor();
  await alan.page.getByRole("button", { name: "Raise hand" }).waitFor();
  await queue.waitFor({ state: "detached" });

  // The host turns chat off: participants can no longer send, the host can.
  await host.page.getByRole("button", { name: /^Chat with everyone/ }).click();
  await host.page.getByRole("complementary", { name: "In-call messages" }).getByRole("switch", { name: "Let everyone send messages" }).uncheck();
  await alan.page.getByText("A host turned off chat for participants.").waitFor();
  assert.equal(await alan.page.getByLabel("Send a message to everyone").isDisabled(), true);
  const refused = await ada.page.evaluate(() => window.__veet.client.sendChat("sneaky").then(() => "sent", (e) => e.code));
  assert.equal(refused, "forbidden", "the server refuses a participant's message");
  await hostInput.fill("Only hosts can chat now");
  await hostInput.press("Enter");
  await waitFor("the host's message reaches Alan", async () => (await chatTexts(alan.page)).includes("Only hosts can chat now"));
  await ada.page.getByRole("button", { name: "Send a reaction" }).click();
  await ada.page.getByRole("toolbar", { name: "Reactions" }).getByRole("button", { name: "Applause" }).click();
  await ada.page.getByRole("button", { name: "Send a reaction" }).click();
  await waitFor("👏 over Ada's tile at the host", () => host.page.evaluate((id) =>
    [...document.querySelectorAll(`.tile[data-participant="${id}"] .tile-reaction`)].some((e) => e.textContent === "👏"), aid), { everyMs: 100 });
  await picture(host.page, "chat.png");
  await host.page.getByRole("button", { name: "Close messages" }).click();

  // Layouts, at the host: what is on screen, and at what size.
  await waitFor("three tiles at the host", async () => (await tileIds(host.page)).length === 3);
  await chooseLayout(host.page, "Tiled");
  let v = await visible(host.page);
  assert.equal(v.length, 3, "tiled: everyone");
  assert.ok(v.every((t) => t.width === v[0].width && t.width > 0), `tiled: one size ${JSON.stringify(v)}`);
  // Pinning Alan puts him first in tiles, and large in auto.
  await host.page.locator(`.tile[data-participant="${lid}"]`).hover();
  await host.page.getByRole("button", { name: "Pin Alan Turing" }).click();
  await waitFor("Alan first when pinned", async () => (await visible(host.page))[0]?.participantId === lid);
  await chooseLayout(host.page, "Auto");
  await waitFor("auto with a pin: Alan large, the others beside", async () => {
    const t = await visible(host.page);
    return t.length === 3 && t[0].participantId === lid && t[0].width > 2 * t[1].width;
  });
  await host.page.getByRole("button", { name: "Unpin Alan Turing" }).click();
  await waitFor("auto: a grid of three again", async () => { const t = await visible(host.page); return t.length === 3 && t.every((x) => x.width === t[0].width); });
  await chooseLayout(host.page, "Spotlight");
  await waitFor("spotlight: one tile, someone else", async () => { const t = await visible(host.page); return t.length === 1 && t[0].participantId !== hid; });
  await chooseLayout(host.page, "Sidebar");
  await waitFor("sidebar: one large, two beside", async () => {
    const t = await visible(host.page);
    return t.length === 3 && t[0].width > 2 * t[1].width && t[1].width === t[2].width;
  });
  await picture(host.page, "sidebar.png");
  v = await visible(host.page);
  assert.ok(v.every((t) => t.video && t.height > 0), `every tile shows video at a size: ${JSON.stringify(v)}`);
  await chooseLayout(host.page, "Auto");

  for (const [i, p] of [host, ada, alan].entries()) assert.deepEqual(p.errors.filter((e) => !/favicon/.test(e)), [], `page ${i} errors`);
  for (const p of [host, ada, alan]) await p.context.close();
});
