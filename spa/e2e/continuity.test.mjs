// Meetings that survive their people: churn, a host who closes the tab, the
// last host leaving, and a network that drops for 40 s.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  useStack, newPerson, createAndJoin, knock, myId, waitFor, waitGrowing, tileIds, startProxy,
} from "./harness.mjs";

const env = useStack();

// admitIn knocks `name` into the meeting and has `admitter` let them in.
async function admitIn(admitter, person, url, code, name) {
  await knock(person.page, url, code, name);
  await admitter.page.getByRole("button", { name: `Admit ${name}` }).first().click();
  await person.page.locator("main.meeting").waitFor();
}

// everyoneReceivesEveryone waits until each page decodes every other's
// video and receives every other's audio.
async function everyoneReceivesEveryone(people, what) {
  const ids = await Promise.all(people.map((p) => myId(p.page)));
  for (const [i, p] of people.entries()) {
    const others = ids.filter((_, j) => j !== i);
    await waitGrowing(p.page, others.map((id) => `${id}-camera`), "frames", `${what}: video at ${ids[i]}`, 40_000);
    await waitGrowing(p.page, others.map((id) => `${id}-microphone`), "packets", `${what}: audio at ${ids[i]}`, 40_000);
  }
}

test("a host who closes the tab is host again; when the host leaves, a participant admits", { timeout: 150_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  const guest = await newPerson(browser, stack.url);
  await admitIn(host, guest, stack.url, code, "Gil Guest");
  const hostId = await myId(host.page);

  // The host closes the tab, then opens the link again in the same browser.
  await host.page.close();
  host.page = await host.context.newPage();
  await host.page.goto(`${stack.url}/${code}`);
  await host.page.getByLabel("Your name").fill("Hana Host");
  await host.page.getByRole("button", { name: "Join now" }).click(); // no knock
  await host.page.locator("main.meeting").waitFor();
  assert.equal(await myId(host.page), hostId, "the same host");
  await waitFor("host role back", () => host.page.evaluate(() => window.__veet.client.isHost));

  // The host leaves (just leaves): the guest can now let people in.
  await host.page.getByRole("button", { name: "Leave call" }).click();
  await host.page.getByRole("dialog", { name: "Leave the call?" }).getByRole("button", { name: "Just leave the call" }).click();
  await host.page.getByText("You left the meeting").waitFor();
  await guest.page.getByText("You can now let people in").waitFor();
  const late = await newPerson(browser, stack.url);
  await admitIn(guest, late, stack.url, code, "Lou Late");
  await waitFor("the newcomer's tile at the guest", async () => (await tileIds(guest.page)).length === 2);
  for (const p of [host, guest, late]) await p.context.close();
});

test("five people join and leave for two minutes: everyone sees and hears everyone", { timeout: 300_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  const names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra"];
  const people = [];
  for (const n of names) {
    const p = await newPerson(browser, stack.url);
    await admitIn(host, p, stack.url, code, n);
    people.push({ ...p, name: n, inside: true });
  }
  // A fixed seed: the same order of comings and goings every run.
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const start = Date.now();
  let moves = 0;
  while (Date.now() - start < 120_000) {
    const p = people[Math.floor(rand() * people.length)];
    if (p.inside) {
      await p.page.getByRole("button", { name: "Leave call" }).click();
      await p.page.getByText("You left the meeting").waitFor();
      p.inside = false;
    } else {
      // Back into the freed slot, with the token the tab kept.
      await p.page.getByRole("button", { name: "Rejoin" }).click();
      await p.page.getByRole("button", { name: "Join now" }).click();
      await p.page.locator("main.meeting").waitFor();
      p.inside = true;
    }
    moves++;
    await new Promise((r) => setTimeout(r, 2000 + rand() * 4000));
  }
  for (const p of people.filter((x) => !x.inside)) {
    await p.page.getByRole("button", { name: "Rejoin" }).click();
    await p.page.getByRole("button", { name: "Join now" }).click();
    await p.page.locator("main.meeting").waitFor();
    p.inside = true;
  }
  const everyone = [host, ...people];
  await waitFor("five tiles everywhere", async () => {
    for (const p of everyone) if ((await tileIds(p.page)).length !== 5) return false;
    return true;
  }, { timeoutMs: 30_000 });
  await everyoneReceivesEveryone(everyone, "after the churn");
  const minutes = (Date.now() - start) / 60_000;
  const resyncs = await Promise.all(everyone.map((p) => p.page.evaluate(() => window.__veet.client.room.resyncs)));
  const perMin = resyncs.reduce((a, b) => a + b, 0) / everyone.length / minutes;
  console.log(`churn: ${moves} comings and goings in ${minutes.toFixed(1)} min; resyncs per client per minute ${perMin.toFixed(2)} (${resyncs.join(", ")})`);
  for (const [i, p] of everyone.entries()) assert.deepEqual(p.errors.filter((e) => !/favicon/.test(e)), [], `page ${i} errors`);
  for (const p of everyone) await p.context.close();
});

test("a guest whose connection drops for 40 s is shown reconnecting, then is back with media", { timeout: 180_000 }, async () => {
  const { stack, browser } = env;
  const host = await newPerson(browser, stack.url);
  const code = await createAndJoin(host.page, stack.url, "Hana Host");
  // The guest reaches the meeting service through a proxy the test cuts.
  const proxy = await startProxy(stack.url);
  try {
    const guest = await newPerson(browser, proxy.url);
    await admitIn(host, guest, proxy.url, code, "Gil Guest");
    const gid = await myId(guest.page);
    await everyoneReceivesEveryone([host, guest], "before the drop");

    await proxy.cut();
    const cutAt = Date.now();
    await guest.page.locator(".banner").getByText("Reconnecting…").waitFor({ timeout: 5000 });
    const shownAfter = Date.now() - cutAt;
    await waitFor("the host sees the guest reconnecting", () =>
      host.page.evaluate((id) => document.querySelector(`.tile[data-participant="${id}"]`)?.classList.contains("reconnecting"), gid),
    { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, Math.max(0, 40_000 - (Date.now() - cutAt))));
    await proxy.restore();
    const backAt = Date.now();
    await waitFor("the guest is back", () =>
      guest.page.evaluate(() => window.__veet.client.sig.state === "open" && !window.__veet.client.awaitingJoined),
    { timeoutMs: 20_000 });
    await waitFor("banner gone", async () => !(await guest.page.locator(".banner").getByText("Reconnecting…").isVisible()));
    await waitFor("the host sees the guest back", () =>
      host.page.evaluate((id) => {
        const t = document.querySelector(`.tile[data-participant="${id}"]`);
        return t && !t.classList.contains("reconnecting");
      }, gid),
    { timeoutMs: 15_000 });
    assert.equal(await myId(guest.page), gid, "the same participant");
    await everyoneReceivesEveryone([host, guest], "after the drop");
    console.log(`network drop: banner after ${shownAfter} ms; back ${Date.now() - backAt} ms after the network returned`);
    for (const p of [host, guest]) await p.context.close();
  } finally {
    await proxy.close();
  }
});
