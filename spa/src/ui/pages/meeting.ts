import type { Shell } from "../shell";
import type { MeetingClient } from "../../client/meeting";
import type { Preview } from "../preview";
import { h } from "../dom";
import { icon } from "../icons";
import { Grid } from "../meeting/grid";
import { PeoplePanel } from "../meeting/people";
import { ChatPanel } from "../meeting/chat";
import { roundButton, toggleButton } from "../meeting/controls";
import { KnockPopup } from "../meeting/knock";
import { Toasts } from "../meeting/toasts";
import { reactionBar, ReactionFeed } from "../meeting/reactions";
import { layoutModes, type LayoutMode } from "../meeting/stage";
import { choose, openModal } from "../dialog";
import { openSettings } from "../settings";
import { chime, chimes } from "../audio";
import { readyCard, takeFresh } from "../share";

const LAYOUT_KEY = "veet:layout";
const HIDE_KEY = "veet:hide-no-video";

export function meetingPage(_app: Shell, client: MeetingClient, preview: Preview) {
  const subs: (() => void)[] = [];
  const toasts = new Toasts();
  const feed = new ReactionFeed();
  let side: "people" | "chat" | null = null;
  // The side panel holds People or the chat, one at a time.
  const setSide = (s: "people" | "chat" | null) => {
    side = s;
    people.el.hidden = side !== "people";
    chat.el.hidden = side !== "chat";
    peopleBtn.setAttribute("aria-pressed", String(side === "people"));
    chatBtn.setAttribute("aria-pressed", String(side === "chat"));
    root.classList.toggle("panel-open", !!side);
    render();
    if (side === "chat") chat.focus();
  };
  const toggleSide = (s: "people" | "chat") => setSide(side === s ? null : s);
  const grid = new Grid(client, {
    selfStream: () => (client.camOn ? preview.tracks.camera ?? null : null),
    onOthers: () => setSide("people"),
    // The node sends each video at the size it is drawn (adaptive layers);
    // a tab in the background draws none, as in LiveKit's adaptive stream.
    onVisible: (v) => client.sizes.show(document.visibilityState === "hidden" ? [] : v),
  });
  const saved = localStorage.getItem(LAYOUT_KEY) as LayoutMode | null;
  if (saved && layoutModes.some((m) => m.mode === saved)) grid.mode = saved;
  grid.hideNoVideo = localStorage.getItem(HIDE_KEY) === "1";
  const people = new PeoplePanel(client, () => setSide(null));
  const chat = new ChatPanel(client, () => setSide(null));
  const knocks = new KnockPopup(client, () => setSide("people"));

  const micBtn = toggleButton("mic", "micOff", "microphone", () => void client.setMic(!client.micOn).then(render));
  const camBtn = toggleButton("cam", "camOff", "camera", () => void client.setCam(!client.camOn).then(render));
  // The hand is the server's (it keeps its place in the queue through a
  // reload): the button shows what everyone sees.
  const handUp = () => !!client.you && !!client.room.participants.get(client.you.id)?.handRaised;
  const handBtn = roundButton("hand", "Raise hand", () => void client.setHand(!handUp()).then(render));
  const bar = reactionBar((e) => void client.react(e));
  const reactBtn = roundButton("smile", "Send a reaction", () => {
    bar.hidden = !bar.hidden;
    reactBtn.setAttribute("aria-expanded", String(!bar.hidden));
    reactBtn.classList.toggle("active", !bar.hidden);
  });
  reactBtn.setAttribute("aria-expanded", "false");
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

  const openLayout = () => {
    const radios = layoutModes.map((m) => {
      const r = h("input", { type: "radio", name: "layout", value: m.mode, "aria-label": m.label, checked: grid.mode === m.mode });
      r.addEventListener("change", () => {
        grid.setMode(m.mode);
        localStorage.setItem(LAYOUT_KEY, m.mode);
      });
      return h("label.layout-option", {}, r, h("span.layout-text", {}, h("span.layout-name", {}, m.label), h("span.hint", {}, m.hint)));
    });
    const hide = h("input", { type: "checkbox", role: "switch", "aria-label": "Hide tiles without video", checked: grid.hideNoVideo });
    hide.addEventListener("change", () => {
      grid.hideNoVideo = hide.checked;
      localStorage.setItem(HIDE_KEY, hide.checked ? "1" : "0");
      grid.render();
    });
    openModal({
      title: "Adjust view",
      className: "layout-dialog",
      content: h("div.layout-form", {},
        h("fieldset.layout-modes", {}, h("legend", {}, "Layout"), ...radios),
        h("label.switch-row", {}, h("span", {}, "Hide tiles without video"), hide),
      ),
    });
  };
  const openDevices = () => openSettings({
    preview,
    micOn: () => client.micOn,
    camOn: () => client.camOn,
    switched: (source, t) => client.replaceLocalTrack(source, t).then(render),
  });
  const menu = h("div.menu-pop", { role: "menu", "aria-label": "More options", hidden: true },
    h("button.menu-item", { type: "button", role: "menuitem", onclick: () => { closeMenu(); openLayout(); } }, icon("layout"), "Change layout"),
    h("button.menu-item", { type: "button", role: "menuitem", onclick: () => { closeMenu(); openDevices(); } }, icon("gear"), "Settings"),
  );
  const moreBtn = roundButton("more", "More options", () => (menu.hidden ? openMenu() : closeMenu()));
  moreBtn.setAttribute("aria-haspopup", "menu");
  const openMenu = () => {
    menu.hidden = false;
    moreBtn.setAttribute("aria-expanded", "true");
    menu.querySelector<HTMLElement>("button")?.focus();
  };
  const closeMenu = () => {
    menu.hidden = true;
    moreBtn.setAttribute("aria-expanded", "false");
  };
  const onDocClick = (e: MouseEvent) => {
    if (!menu.hidden && !menu.contains(e.target as Node) && !moreBtn.contains(e.target as Node)) closeMenu();
  };
  document.addEventListener("click", onDocClick);

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
  const peopleBtn = h("button.icon-btn.people-btn", { type: "button", "aria-label": "Show everyone", title: "Show everyone", "aria-pressed": "false", onclick: () => toggleSide("people") }, icon("people"), count);
  const unread = h("span.count-badge.unread-badge", { hidden: true });
  const chatBtn = h("button.icon-btn.chat-btn", { type: "button", "aria-label": "Chat with everyone", title: "Chat with everyone", "aria-pressed": "false", onclick: () => toggleSide("chat") }, icon("chat"), unread);
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
    h("div.meeting-body", {}, grid.el, people.el, chat.el),
    bar,
    menu,
    h("footer.control-bar", {},
      h("div.bar-left", {}, clock, h("span.divider", { "aria-hidden": "true" }, "|"), h("span.meeting-code", {}, client.code), lockBadge),
      h("div.bar-center", { role: "toolbar", "aria-label": "Call controls" }, micBtn.el, camBtn.el, handBtn, reactBtn, screenBtn, moreBtn, leaveBtn),
      h("div.bar-right", {}, linkBtn, peopleBtn, chatBtn),
    ),
    knocks.el,
    feed.el,
    toasts.el,
  );
  if (takeFresh(client.code)) root.append(readyCard(client.code, () => {}));

  // The tab's title tells a host in another tab that someone knocks.
  const savedTitle = document.title;
  const baseTitle = `veet – ${client.code}`;
  const seenGuests = new Set<string>();
  let raisedBefore: Set<string> | null = null;
  const notices = () => {
    const c = client;
    const lobby = c.isModerator ? [...c.room.lobby.values()] : [];
    let knocked = false;
    for (const g of lobby) if (!seenGuests.has(g.id)) { seenGuests.add(g.id); knocked = true; }
    if (knocked) chime();
    document.title = lobby.length === 0 ? baseTitle
      : lobby.length === 1 ? `(1) ${lobby[0].name} wants to join – veet` : `(${lobby.length}) ${lobby.length} people want to join – veet`;
    // A hand going up is a toast for hosts (in the panel, the queue).
    const raised = new Set([...c.room.participants.values()].filter((p) => p.handRaised && p.id !== c.you?.id).map((p) => p.id));
    if (raisedBefore && c.isModerator) {
      const fresh = [...raised].filter((id) => !raisedBefore!.has(id));
      if (fresh.length === 1) toasts.show(`${c.room.participants.get(fresh[0])!.name} raised a hand`, "hand", 6000, { label: "View", run: () => setSide("people") });
      else if (fresh.length > 1) toasts.show(`${fresh.length} people raised a hand`, "hand", 6000, { label: "View", run: () => setSide("people") });
    }
    raisedBefore = raised;
  };

  function render() {
    micBtn.set(client.micOn);
    camBtn.set(client.camOn);
    const raised = handUp();
    handBtn.classList.toggle("active", raised);
    handBtn.setAttribute("aria-label", raised ? "Lower hand" : "Raise hand");
    handBtn.setAttribute("title", raised ? "Lower hand" : "Raise hand");
    handBtn.setAttribute("aria-pressed", String(raised));
    screenBtn.classList.toggle("active", sharing);
    screenBtn.setAttribute("aria-label", sharing ? "Stop presenting" : "Present now");
    screenBtn.setAttribute("title", sharing ? "Stop presenting" : "Present now");
    screenBtn.setAttribute("aria-pressed", String(sharing));
    const n = client.room.participants.size;
    count.textContent = String(n);
    peopleBtn.setAttribute("aria-label", `Show everyone (${n})`);
    peopleBtn.classList.toggle("attention", client.isModerator && client.room.lobby.size > 0);
    lockBadge.hidden = !client.room.locked;
    grid.render();
    people.render();
    chat.render();
    const u = client.chat.unread;
    unread.hidden = u === 0 || side === "chat";
    unread.textContent = u > 99 ? "99+" : String(u);
    chatBtn.setAttribute("aria-label", u > 0 && side !== "chat" ? `Chat with everyone (${u} unread)` : "Chat with everyone");
    knocks.render(side === "people");
    notices();
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
    client.on("chat", schedule),
    client.on("reaction", ({ participantId, emoji }) => {
      if (grid.react(participantId, emoji)) return;
      const who = participantId === client.you?.id ? "You" : client.room.participants.get(participantId)?.name ?? "Someone";
      feed.show(emoji, who);
    }),
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
  const onVisibility = () => {
    client.sizes.show(document.visibilityState === "hidden" ? [] : grid.visibleTiles());
    if (document.visibilityState === "visible") schedule();
  };
  document.addEventListener("visibilitychange", onVisibility);

  // Meet's shortcuts: Ctrl+D microphone, Ctrl+E camera; Ctrl+Alt+C chat,
  // Ctrl+Alt+P people, Ctrl+Alt+H hand. Escape closes the menus.
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      if (!menu.hidden) { closeMenu(); moreBtn.focus(); }
      if (!bar.hidden) reactBtn.click();
      return;
    }
    if (!(e.ctrlKey || e.metaKey)) return;
    const k = e.key.toLowerCase();
    if (e.altKey) {
      if (k === "c") { e.preventDefault(); toggleSide("chat"); }
      if (k === "p") { e.preventDefault(); toggleSide("people"); }
      if (k === "h") { e.preventDefault(); handBtn.click(); }
      return;
    }
    if (k === "d") { e.preventDefault(); micBtn.el.click(); }
    if (k === "e") { e.preventDefault(); camBtn.el.click(); }
  };
  document.addEventListener("keydown", onKey);
  const onUnload = () => client.sig.send({ action: "leave" });
  window.addEventListener("pagehide", onUnload);
  if (window.__veet) {
    window.__veet.visibleTiles = () => grid.visibleTiles();
    window.__veet.chimes = () => chimes;
  }

  render();
  return {
    el: root,
    cleanup: () => {
      subs.forEach((u) => u());
      clearInterval(clockTimer);
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("click", onDocClick);
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("pagehide", onUnload);
      document.title = savedTitle;
      grid.destroy();
    },
  };
}
