// Bad input and the connection's life: codes that are not codes, meetings
// that do not exist, a reload that rejoins without knocking, a dropped
// WebSocket that reconnects.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createAndJoin, knock, myId, newPerson, tileIds, tileVideoWidth, waitFor, waitGrowing,
  useStack,
} from "./harness.mjs";

const env = useStack();

test("bad codes get a clear message", { timeout: 60_000 }, async () => {
  const { stack, browser } = env;
  const { page } = await newPerson(browser, stack.url);
  await page.goto(stack.url + "/");
  await page.getByLabel("Meeting code or link").fill("not a code");
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await page.getByText("That isn't a meeting code").waitFor();

  // A pasted link works.
  await page.getByLabel("Meeting code or link").fill(`${stack.url}/ABC-DEFG-HIJ`);
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await page.waitForURL(/\/abc-defg-hij$/);

  await page.goto(stack.url + "/nope");
  await page.getByText("Check your meeting code").waitFor();

  // Well-formed but unknown: the pre-join page says so at once.
  await page.goto(stack.url + "/zzz-zzzz-zzz");
  await page.getByText("This meeting doesn't exist").waitFor();
  assert.equal(await page.getByRole("button", { name: "Ask to join" }).isDisabled(), true);
  await page.context().close();
});

test("a reload rejoins without knocking; a dropped socket reconnects", { timeout: 120_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  const guest = await newPerson(browser, stack.url);
  await knock(guest.page, stack.url, code, "Gil Guest");
  await host.page.getByRole("button", { name: "Admit Gil Guest" }).first().click();
  await guest.page.locator("main.meeting").waitFor();
  const gid = await myId(guest.page);

  // Reload: the stored token joins at once, as the same participant.
  await guest.page.reload();
  await guest.page.getByLabel("Your name").fill("Gil Guest");
  await guest.page.getByRole("button", { name: "Join now" }).click();
  await guest.page.locator("main.meeting").waitFor();
  assert.equal(await myId(guest.page), gid, "same participant after reload");
  await waitFor("host sees one guest tile with video again", async () => {
    const ids = await tileIds(host.page);
    return ids.length === 2 && ids.filter((i) => i === gid).length === 1 && (await tileVideoWidth(host.page, gid)) > 0;
  }, { timeoutMs: 25_000 });

  // Drop the guest's WebSocket: the banner shows, the client rejoins with
  // its token and its media session, which the node kept: the media never
  // stopped, and the host keeps receiving the guest.
  await guest.page.evaluate(() => {
    const c = window.__veet.client;
    c.sig.socket.__old = true;
    c.media.publishPC.__old = true;
    c.sig.socket.close();
  });
  await guest.page.locator(".banner").getByText("Reconnecting…").waitFor({ timeout: 5000 }).catch(() => {
    /* the reconnect can beat the first poll; what matters is the outcome */
  });
  await waitFor("a new socket and the same publish PeerConnection", () =>
    guest.page.evaluate(() => {
      const c = window.__veet.client;
      return c.sig.state === "open" && !c.sig.socket.__old && c.media?.publishPC?.__old === true && !c.awaitingJoined;
    }),
  );
  await waitFor("banner gone", async () => !(await guest.page.locator(".banner").getByText("Reconnecting…").isVisible()));
  await waitFor("host still has the guest", async () => (await tileIds(host.page)).includes(gid), { timeoutMs: 20_000 });
  const hid = await myId(host.page);
  await waitGrowing(host.page, [`${gid}-camera`], "frames", "guest video flows to the host after the reconnect", 30_000);
  await waitGrowing(guest.page, [`${hid}-camera`], "frames", "host video flows to the guest after the reconnect", 30_000);

  // The same person joins from a second tab (a duplicated tab keeps the
  // token): the first tab says why it left and stays out, rather than
  // reconnecting and evicting the second.
  const stored = await guest.page.evaluate(() => JSON.stringify(sessionStorage));
  const dup = await guest.context.newPage();
  await dup.addInitScript((s) => {
    for (const [k, v] of Object.entries(JSON.parse(s))) sessionStorage.setItem(k, v);
  }, stored);
  await dup.goto(`${stack.url}/${code}`);
  await dup.getByLabel("Your name").fill("Gil Guest");
  await dup.getByRole("button", { name: "Join now" }).click();
  await dup.locator("main.meeting").waitFor();
  await guest.page.getByText("You joined from another tab or device").waitFor();
  assert.equal(await guest.page.evaluate(() => window.__veet.client?.sig.state ?? "closed"), "closed", "the old tab does not reconnect");
  assert.equal(await myId(dup), gid, "the new tab is the same participant");
  await waitGrowing(host.page, [`${gid}-camera`], "frames", "the host receives the guest from the new tab", 30_000);
  assert.ok(await dup.locator("main.meeting").isVisible(), "the new tab is still in the meeting");
  assert.deepEqual((await tileIds(host.page)).filter((i) => i === gid), [gid], "one tile for the guest at the host");
});

test("a host denies one knock; another guest cancels theirs", { timeout: 90_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  const a = await newPerson(browser, stack.url);
  const b = await newPerson(browser, stack.url);
  await knock(a.page, stack.url, code, "Dan Denied");
  await knock(b.page, stack.url, code, "Cora Cancel");
  await host.page.getByText("2 people want to join this call").waitFor();
  await host.page.getByRole("button", { name: "View all" }).click();
  const lobby = host.page.getByRole("region", { name: "Waiting to join" });
  await lobby.getByText("Cora Cancel").waitFor();

  await host.page.getByRole("button", { name: "Deny Dan Denied" }).click();
  await a.page.getByText("denied your request to join").waitFor();
  // "Try again", and a reload, do not skip the cool-down: the browser knocks
  // with the same key, so the server knows it is the same guest (on a local
  // stack every browser is 127.0.0.1, so the address cannot tell).
  await a.page.getByRole("button", { name: "Try again" }).click();
  await a.page.getByText(/You were turned away a moment ago\. You can ask again in \d+ s/).waitFor();
  assert.equal(await a.page.getByRole("button", { name: "Ask to join" }).isDisabled(), true);
  await a.page.reload();
  await a.page.getByText(/You can ask again in \d+ s/).waitFor();

  await b.page.getByRole("button", { name: "Cancel" }).click();
  await b.page.getByText("You cancelled your request to join").waitFor();
  await waitFor("the lobby is empty at the host", async () => (await lobby.count()) === 0);
  assert.deepEqual(await tileIds(host.page), [await myId(host.page)]);
});
