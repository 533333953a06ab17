// Scenario (b), issue 5: lobby and host controls, plus the README pictures.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createAndJoin, inbound, knock, liveCaptures, myId, newPerson, picture, tileIds, tileVideoWidth, waitFor,
  waitGrowing,
  useStack,
} from "./harness.mjs";

const env = useStack();

test("a host admits, mutes and removes a guest", { timeout: 150_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  const guest = await newPerson(browser, stack.url);
  await knock(guest.page, stack.url, code, "Gil Guest");

  // The knock shows on the host's page; the lobby picture has the panel open.
  await host.page.getByText("Someone wants to join this call").waitFor();
  await host.page.getByRole("button", { name: /^Show everyone/ }).click();
  await host.page.getByRole("region", { name: "Waiting to join" }).getByText("Gil Guest").waitFor();
  await picture(host.page, "lobby.png");
  await host.page.getByRole("button", { name: "Admit Gil Guest" }).click();

  await guest.page.locator("main.meeting").waitFor();
  const gid = await myId(guest.page);
  await waitFor("guest video at the host", async () => (await tileVideoWidth(host.page, gid)) > 0, { timeoutMs: 25_000 });
  await waitGrowing(host.page, [`${gid}-microphone`], "packets", "guest audio reaches the host");
  await host.page.getByRole("button", { name: "Close people panel" }).click();
  const hid = await myId(host.page);
  await waitFor("host video at the guest", async () => (await tileVideoWidth(guest.page, hid)) > 0, { timeoutMs: 25_000 });
  await picture(guest.page, "meeting-2.png");
  await host.page.getByRole("button", { name: /^Show everyone/ }).click();

  // Co-host: the guest gets the host controls, and loses them again.
  await host.page.getByRole("button", { name: "More actions for Gil Guest" }).click();
  await host.page.getByRole("button", { name: "Make Gil Guest a co-host" }).click();
  await guest.page.getByRole("button", { name: /^Show everyone/ }).click();
  await guest.page.getByRole("switch", { name: "Lock meeting" }).waitFor();
  await host.page.getByRole("button", { name: "More actions for Gil Guest" }).click();
  await host.page.getByRole("button", { name: "Remove Gil Guest as co-host" }).click();
  await guest.page.getByRole("switch", { name: "Lock meeting" }).waitFor({ state: "detached" });

  // Mute: the host's inbound audio from the guest stops, the guest is told.
  await host.page.getByRole("button", { name: "Mute Gil Guest's microphone" }).click();
  await guest.page.getByText("Hana Host muted you").waitFor();
  await waitFor("guest's audio stops at the host", async () => {
    const a = (await inbound(host.page))[`${gid}-microphone`]?.packets;
    await new Promise((r) => setTimeout(r, 1500));
    const b = (await inbound(host.page))[`${gid}-microphone`]?.packets;
    return a !== undefined && a === b;
  }, { timeoutMs: 20_000 });
  assert.equal(await guest.page.getByRole("button", { name: "Turn on microphone" }).count(), 1, "guest's mic button shows off");
  await waitFor("muted badge on the guest's tile at the host", () =>
    host.page.evaluate((id) => {
      const b = document.querySelector(`.tile[data-participant="${id}"] .muted-badge`);
      return b && getComputedStyle(b).display !== "none";
    }, gid),
  );

  // Remove: the guest sees the removed page and cannot come back.
  await host.page.getByRole("button", { name: "More actions for Gil Guest" }).click();
  await host.page.getByRole("button", { name: "Remove Gil Guest from the meeting" }).click();
  await host.page.getByRole("dialog", { name: "Remove Gil Guest from the meeting?" }).getByRole("button", { name: "Remove" }).click();
  await guest.page.getByText("You've been removed from the meeting").waitFor();
  await waitFor("the removed guest's camera and microphone released", async () => (await liveCaptures(guest.page)).length === 0);
  await waitFor("the removed guest's tile is gone", async () => !(await tileIds(host.page)).includes(gid));
  // Back at the link: the pre-join page says so at once, before any click.
  await guest.page.goto(`${stack.url}/${code}`);
  await guest.page.getByText("You can't join this meeting: a host removed you").waitFor();
  assert.equal(await guest.page.getByRole("button", { name: /Join now|Ask to join/ }).isDisabled(), true);
  assert.equal(await guest.page.locator("main.meeting").count(), 0);
});

test("six people: the grid picture", { timeout: 180_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");

  // A locked meeting turns knocks away with a clear message.
  await host.page.getByRole("button", { name: /^Show everyone/ }).click();
  await host.page.getByRole("switch", { name: "Lock meeting" }).check();
  await host.page.getByRole("img", { name: "Meeting locked" }).waitFor();
  const late = await newPerson(browser, stack.url);
  await late.page.goto(`${stack.url}/${code}`);
  await late.page.getByText("This meeting is locked").waitFor(); // at once, before asking
  assert.equal(await late.page.getByRole("button", { name: "Ask to join" }).isDisabled(), true);
  await late.context.close();
  await host.page.getByRole("switch", { name: "Lock meeting" }).uncheck();
  await host.page.getByRole("img", { name: "Meeting locked" }).waitFor({ state: "hidden" });
  await host.page.getByRole("button", { name: "Close people panel" }).click();

  const names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Pauling"];
  const guests = [];
  for (const n of names) {
    const g = await newPerson(browser, stack.url);
    await knock(g.page, stack.url, code, n);
    guests.push(g);
  }
  await host.page.getByText("5 people want to join this call").waitFor();
  await host.page.getByRole("button", { name: "Admit all" }).click();
  for (const g of guests) await g.page.locator("main.meeting").waitFor();
  // A camera off, a microphone off and a hand up, so the picture shows each state.
  await guests[3].page.getByRole("button", { name: "Turn off camera" }).click();
  await guests[2].page.getByRole("button", { name: "Turn off microphone" }).click();
  await guests[1].page.getByRole("button", { name: "Raise hand" }).click();
  const ids = await Promise.all(guests.map((g) => myId(g.page)));
  await waitFor("6 tiles at the host", async () => (await tileIds(host.page)).length === 6);
  await waitFor("the muted badge and the raised hand at the host", () =>
    host.page.evaluate(([muted, hand]) => {
      const shown = (sel) => { const e = document.querySelector(sel); return e && getComputedStyle(e).display !== "none"; };
      return shown(`.tile[data-participant="${muted}"] .muted-badge`) && shown(`.tile[data-participant="${hand}"] .hand-badge`);
    }, [ids[2], ids[1]]),
  );
  for (const [i, id] of ids.entries()) {
    if (i === 3) continue;
    await waitFor(`video of ${names[i]} at the host`, async () => (await tileVideoWidth(host.page, id)) > 0, { timeoutMs: 30_000 });
  }
  await picture(host.page, "meeting-6.png");

  // Ending the meeting sends everyone to the ended page.
  await host.page.getByRole("button", { name: /^Show everyone/ }).click();
  await host.page.getByRole("button", { name: "End meeting for all" }).click();
  await host.page.getByRole("dialog", { name: "End the meeting for everyone?" }).getByRole("button", { name: "End meeting" }).click();
  for (const g of guests) await g.page.getByText("The meeting has ended").waitFor();
  await host.page.getByText("You ended the meeting for everyone").waitFor();
  for (const p of [host, ...guests]) await waitFor("camera and microphone released at the end", async () => (await liveCaptures(p.page)).length === 0);
});
