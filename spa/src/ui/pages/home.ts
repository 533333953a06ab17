import type { Shell } from "../shell";
import { h } from "../dom";
import { icon } from "../icons";
import { parseMeetingInput } from "../../client/codes";
import { createMeeting } from "../../client/calls";
import { laterDialog, markFresh } from "../share";

export function homePage(app: Shell) {
  const error = h("p.form-error", { role: "alert" });
  const input = h("input.code-input", {
    type: "text",
    placeholder: "Enter a code or link",
    "aria-label": "Meeting code or link",
    autocomplete: "off",
    spellcheck: "false",
    autofocus: true,
  });
  const joinBtn = h("button.text-btn", { type: "submit", disabled: true }, "Join");
  input.addEventListener("input", () => {
    joinBtn.disabled = input.value.trim() === "";
    error.textContent = "";
  });

  const form = h("form.join-form", {
    onsubmit: (e: Event) => {
      e.preventDefault();
      const code = parseMeetingInput(input.value);
      if (!code) {
        error.textContent = "That isn't a meeting code. Codes look like abc-defg-hij.";
        return;
      }
      app.navigate(`/${code}`);
    },
  }, h("label.code-field", {}, icon("link"), input), joinBtn);

  // New meeting offers what Meet's does: a meeting for later (a link to
  // share, nobody joins now) or an instant one (straight to the pre-join page).
  const create = async (item: HTMLButtonElement) => {
    newBtn.disabled = true;
    item.disabled = true;
    closeMenu();
    newBtn.textContent = "Creating…";
    try {
      return await createMeeting(app.config.wsUrl, app.tokens);
    } catch (err) {
      error.textContent = `Couldn't create a meeting: ${(err as Error).message}`;
      return null;
    } finally {
      newBtn.disabled = item.disabled = false;
      newBtn.replaceChildren(icon("cam"), "New meeting");
    }
  };
  const later: HTMLButtonElement = h("button.menu-item", {
    type: "button", role: "menuitem",
    onclick: async () => {
      const code = await create(later);
      if (code) laterDialog(code, () => app.navigate(`/${code}`));
    },
  }, icon("link"), "Create a meeting for later");
  const instant: HTMLButtonElement = h("button.menu-item", {
    type: "button", role: "menuitem",
    onclick: async () => {
      const code = await create(instant);
      if (!code) return;
      markFresh(code);
      app.navigate(`/${code}`);
    },
  }, icon("plus"), "Start an instant meeting");
  const menu = h("div.menu-pop.new-menu", { role: "menu", "aria-label": "New meeting", hidden: true }, later, instant);
  const closeMenu = () => { menu.hidden = true; newBtn.setAttribute("aria-expanded", "false"); };
  const newBtn = h("button.primary-btn", {
    type: "button", "aria-haspopup": "menu", "aria-expanded": "false",
    onclick: () => {
      menu.hidden = !menu.hidden;
      newBtn.setAttribute("aria-expanded", String(!menu.hidden));
      if (!menu.hidden) later.focus();
    },
  }, icon("cam"), "New meeting");
  menu.addEventListener("keydown", (e) => { if (e.key === "Escape") { closeMenu(); newBtn.focus(); } });

  const el = h("main.page.home", {},
    h("header.topbar", {}, h("span.logo", {}, h("span.logo-mark", { "aria-hidden": "true" }), "veet")),
    h("section.hero", {},
      h("h1", {}, "Video calls and meetings for everyone"),
      h("p.lead", {}, "Connect, collaborate and meet from anywhere. Open source, runs on your own servers."),
      h("div.home-actions", {}, h("div.new-wrap", {}, newBtn, menu), form),
      error,
      h("p.hint", {}, "Share the meeting link with the people you want to meet with."),
    ),
  );
  return { el };
}
