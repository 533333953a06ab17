import type { App } from "../app";
import type { MeetingClient } from "../../client/meeting";
import type { Preview } from "../preview";
import { h } from "../dom";
import { icon } from "../icons";
import { Grid } from "../meeting/grid";
import { PeoplePanel } from "../meeting/people";
import { roundButton, toggleButton } from "../meeting/controls";
import { KnockPopup } from "../meeting/knock";
import { Toasts } from "../meeting/toasts";
import { choose } from "../dialog";

export function meetingPage(_app: App, client: MeetingClient, preview: Preview) {
  const subs: (() => void)[] = [];
  const toasts = new Toasts();
  const grid = new Grid(client, () => (client.camOn ? preview.tracks.camera ?? null : null));
  let panel: PeoplePanel;
  const togglePanel = (open = !panel.open) => {
    panel.el.hidden = !open;
    peopleBtn.setAttribute("aria-pressed", String(open));
    root.classList.toggle("panel-open", open);
    render();
  };
  panel = new PeoplePanel(client, () => togglePanel(false));
  const knocks = new KnockPopup(client, () => togglePanel(true));

  const micBtn = toggleButton("mic", "micOff", "microphone", () => void client.setMic(!client.micOn).then(render));
  const camBtn = toggleButton("cam", "camOff", "camera", () => void client.setCam(!client.camOn).then(render));
  let raised = false;
  const handBtn = roundButton("hand", "Raise hand", () => {
    raised = !raised;
    void client.setHand(raised);
    render();
  });
  let sharing = false;
  const screenBtn = roundButton("screen", "Present now", async () => {
    if (sharing) {
      sharing = false;
      await client.stopScreen();
    } else {
      try {
        const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        const t = s.getVideoTracks()[0];
        t.addEventListener("ended", () => { sharing = false; render(); });
        preview.tracks.screen = t;
        sharing = true;
        await client.startScreen(t);
      } catch {
        toasts.show("Screen sharing was cancelled or isn't available.");
      }
    }
    render();
  });
  if (!navigator.mediaDevices?.getDisplayMedia) screenBtn.hidden = true;
  // A host leaving others behind may end the call for everyone instead; if
  // they just leave, moderation stays with a co-host or passes on.
  const leave = async () => {
    const others = client.room.participants.size > 1;
    if (!client.isModerator || !others) return void client.leave();
    const otherMods = [...client.room.participants.values()].some((p) => p.id !== client.you?.id && (p.role === "host" || p.role === "cohost"));
    const choice = await choose({
      title: "Leave the call?",
      body: otherMods ? "The other hosts and co-hosts keep the meeting going." : "The person here longest becomes a co-host and can let people in.",
      actions: [
        { label: "Just leave the call", value: "leave", kind: "primary" },
        { label: "End the call for everyone", value: "end", kind: "danger" },
      ],
    });
    if (choice === "end") await client.end();
    if (choice) await client.leave();
  };
  const leaveBtn = h("button.leave-btn", { type: "button", "aria-label": "Leave call", title: "Leave call", onclick: () => void leave() }, icon("leave"));
  const count = h("span.count-badge");
  const peopleBtn = h("button.icon-btn.people-btn", { type: "button", "aria-label": "Show everyone", title: "Show everyone", "aria-pressed": "false", onclick: () => togglePanel() }, icon("people"), count);
  const linkBtn = h("button.icon-btn", {
    type: "button", "aria-label": "Copy joining link", title: "Copy joining link",
    onclick: async () => {
      const url = `${location.origin}/${client.code}`;
      try {
        await navigator.clipboard.writeText(url);
        toasts.show("Link copied to clipboard");
      } catch {
        toasts.show(`Share this link: ${url}`);
      }
    },
  }, icon("link"));
  const lockBadge = h("span.lock-badge", { title: "Meeting locked", "aria-label": "Meeting locked", role: "img", hidden: true }, icon("lock"));
  const clock = h("span.clock");
  const tick = () => (clock.textContent = new Date().toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }));
  tick();
  const clockTimer = setInterval(tick, 15_000);

  const banner = h("div.banner", { role: "alert", hidden: true }, h("span.spinner.small", { "aria-hidden": "true" }), "Reconnecting…");
  // The banner is up while the socket is down or the media stalled.
  let socketDown = false;
  let mediaStalled = false;
  const showBanner = () => { banner.hidden = !socketDown && !mediaStalled; };

  const root = h("main.meeting", { "data-code": client.code },
    banner,
    h("div.meeting-body", {}, grid.el, panel.el),
    h("footer.control-bar", {},
      h("div.bar-left", {}, clock, h("span.divider", { "aria-hidden": "true" }, "|"), h("span.meeting-code", {}, client.code), lockBadge),
      h("div.bar-center", { role: "toolbar", "aria-label": "Call controls" }, micBtn.el, camBtn.el, handBtn, screenBtn, leaveBtn),
      h("div.bar-right", {}, linkBtn, peopleBtn),
    ),
    knocks.el,
    toasts.el,
  );

  function render() {
    micBtn.set(client.micOn);
    camBtn.set(client.camOn);
    handBtn.classList.toggle("active", raised);
    handBtn.setAttribute("aria-label", raised ? "Lower hand" : "Raise hand");
    handBtn.setAttribute("aria-pressed", String(raised));
    screenBtn.classList.toggle("active", sharing);
    screenBtn.setAttribute("aria-label", sharing ? "Stop presenting" : "Present now");
    screenBtn.setAttribute("title", sharing ? "Stop presenting" : "Present now");
    handBtn.setAttribute("title", raised ? "Lower hand" : "Raise hand");
    screenBtn.setAttribute("aria-pressed", String(sharing));
    const n = client.room.participants.size;
    count.textContent = String(n);
    peopleBtn.setAttribute("aria-label", `Show everyone (${n})`);
    peopleBtn.classList.toggle("attention", client.isModerator && client.room.lobby.size > 0);
    lockBadge.hidden = !client.room.locked;
    grid.render();
    panel.render();
    knocks.render(panel.open);
  }

  // Render at most once per task: a burst of events (a join brings room,
  // tracks and an offer) becomes one DOM update.
  let queued = false;
  const schedule = () => {
    if (queued) return;
    queued = true;
    setTimeout(() => { queued = false; render(); }, 0);
  };

  subs.push(
    client.on("room", schedule),
    client.on("remoteTrack", schedule),
    client.on("connection", (s) => { socketDown = s === "reconnecting"; showBanner(); }),
    client.on("stall", (s) => { mediaStalled = s; showBanner(); }),
    client.on("handover", (p) => {
      toasts.show(p.id === client.you?.id ? "You can now let people in and manage the call: the hosts left." : `${p.name} can now let people in: the hosts left.`, "handover", 8000);
      render();
    }),
    client.on("notice", (m) => toasts.show(m)),
    client.on("mutedByHost", (m) => {
      const what = m.source === "microphone" ? "muted you" : m.source === "camera" ? "turned off your camera" : "stopped your presentation";
      toasts.show(`${m.byName} ${what}`, "muted-by-host", 10_000);
      if (m.source === "screen") sharing = false;
      render();
    }),
  );

  // Meet's shortcuts: Ctrl+D microphone, Ctrl+E camera.
  const onKey = (e: KeyboardEvent) => {
    if (!(e.ctrlKey || e.metaKey)) return;
    if (e.key === "d") { e.preventDefault(); micBtn.el.click(); }
    if (e.key === "e") { e.preventDefault(); camBtn.el.click(); }
  };
  document.addEventListener("keydown", onKey);
  const onUnload = () => client.sig.send({ action: "leave" });
  window.addEventListener("pagehide", onUnload);

  render();
  return {
    el: root,
    cleanup: () => {
      subs.forEach((u) => u());
      clearInterval(clockTimer);
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("pagehide", onUnload);
      grid.destroy();
    },
  };
}
