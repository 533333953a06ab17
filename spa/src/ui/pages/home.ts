import type { App } from "../app";
import { h } from "../dom";
import { icon } from "../icons";
import { parseMeetingInput } from "../../client/codes";
import { createMeeting } from "../../client/meeting";

export function homePage(app: App) {
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

  const newBtn = h("button.primary-btn", {
    type: "button",
    onclick: async () => {
      newBtn.disabled = true;
      newBtn.textContent = "Creating…";
      try {
        const code = await createMeeting(app.config.wsUrl, app.tokens);
        app.navigate(`/${code}`);
      } catch (err) {
        error.textContent = `Couldn't create a meeting: ${(err as Error).message}`;
        newBtn.disabled = false;
        newBtn.textContent = "New meeting";
      }
    },
  }, icon("cam"), "New meeting");

  const el = h("main.page.home", {},
    h("header.topbar", {}, h("span.logo", {}, h("span.logo-mark", { "aria-hidden": "true" }), "veet")),
    h("section.hero", {},
      h("h1", {}, "Video calls and meetings for everyone"),
      h("p.lead", {}, "Connect, collaborate and meet from anywhere. Open source, runs on your own servers."),
      h("div.home-actions", {}, newBtn, form),
      error,
      h("p.hint", {}, "Share the meeting link with the people you want to meet with."),
    ),
  );
  return { el };
}
