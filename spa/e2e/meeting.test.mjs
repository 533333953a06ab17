// Scenario (a): a host and two guests meet, see and hear each other; a
// camera turned off shows the avatar; leaving removes the tile everywhere.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createAndJoin, inbound, knock, liveCaptures, myId, newPerson, tileIds, tileVideoWidth, waitFor, waitGrowing,
  useStack,
} from "./harness.mjs";

const env = useStack();

test("a host and two guests see and hear each other", { timeout: 150_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");

  const guests = [await newPerson(browser, stack.url), await newPerson(browser, stack.url)];
  const names = ["Gil Guest", "Greta Guest"];
  for (let i = 0; i < guests.length; i++) {
    await knock(guests[i].page, stack.url, code, names[i]);
    await host.page.getByRole("button", { name: `Admit ${names[i]}` }).first().click();
    await guests[i].page.locator("main.meeting").waitFor();
  }
  const people = [host, ...guests];
  const ids = await Promise.all(people.map((p) => myId(p.page)));
  assert.ok(ids.every(Boolean), `every page knows who it is: ${ids}`);

  for (const [i, p] of people.entries()) {
    const others = ids.filter((_, j) => j !== i);
    await waitFor(`3 tiles on page ${i}`, async () => (await tileIds(p.page)).length === 3);
    for (const o of others) {
      await waitFor(`page ${i} plays ${o}'s video`, async () => (await tileVideoWidth(p.page, o)) > 0, { timeoutMs: 25_000 });
    }
    await waitGrowing(p.page, others.map((o) => `${o}-camera`), "frames", `page ${i}: frames decoded growing`);
    await waitGrowing(p.page, others.map((o) => `${o}-microphone`), "packets", `page ${i}: audio packets growing`);
    const tracks = others.flatMap((o) => [`${o}-camera`, `${o}-microphone`]);
    await waitFor(`page ${i} takes the node's sender reports on every track`, async () => {
      const cur = await inbound(p.page);
      const got = tracks.map((t) => cur[t]?.reports ?? 0);
      if (got.some((n) => n < 2)) throw new Error(`reports ${got}`);
      return true;
    }, { timeoutMs: 10_000 });
  }

  // Chromium's fake microphone beeps once a second: the SFU's active-speaker
  // detection lights the speaking ring on a guest's tile at the host.
  await waitFor("the host sees a guest's speaking ring", () =>
    host.page.evaluate((gs) => gs.some((id) => document.querySelector(`.tile.speaking[data-participant="${id}"]`)), ids.slice(1)),
    { timeoutMs: 10_000, everyMs: 100 });

  // The first guest presents: the others get a playing presentation tile,
  // which goes when the presentation stops.
  const screenTile = (page) =>
    page.evaluate((id) => {
      const v = document.querySelector(`.tile.screen[data-participant="${id}"] video`);
      return v ? v.videoWidth : -1;
    }, ids[1]);
  await guests[0].page.getByRole("button", { name: "Present now" }).click();
  for (const p of [host, guests[1]]) await waitFor("a playing presentation tile", async () => (await screenTile(p.page)) > 0, { timeoutMs: 20_000 });
  await guests[0].page.getByRole("button", { name: "Stop presenting" }).click();
  for (const p of [host, guests[1]]) await waitFor("the presentation tile gone", async () => (await screenTile(p.page)) === -1);
  await waitFor("the presenter's screen capture ended", async () => !(await liveCaptures(guests[0].page)).includes("screen"));

  // The first guest turns the camera off: the others see the avatar.
  await guests[0].page.getByRole("button", { name: "Turn off camera" }).click();
  for (const p of [host, guests[1]]) {
    await waitFor("guest's tile shows the avatar", () =>
      p.page.evaluate((id) => {
        const t = document.querySelector(`.tile[data-participant="${id}"]`);
        const av = t?.querySelector(".avatar");
        return t?.dataset.video === "false" && av && getComputedStyle(av).display !== "none" && av.textContent === "GG";
      }, ids[1]),
    );
  }

  // The second guest leaves: the tile goes everywhere.
  await guests[1].page.getByRole("button", { name: "Leave call" }).click();
  await guests[1].page.getByText("You left the meeting").waitFor();
  await waitFor("the leaver's camera and microphone released", async () => (await liveCaptures(guests[1].page)).length === 0);
  for (const p of [host, guests[0]]) {
    await waitFor("the leaver's tile is gone", async () => {
      const t = await tileIds(p.page);
      return t.length === 2 && !t.includes(ids[2]);
    });
  }
  for (const [i, p] of people.entries()) assert.deepEqual(p.errors.filter((e) => !/favicon/.test(e)), [], `page ${i} errors`);
});
