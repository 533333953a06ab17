import { clear, h } from "../dom";
import { icon, IconName } from "../icons";

// toggleButton is a round control-bar button for a device: the label says
// what pressing it does ("Turn off microphone"), and aria-pressed the state.
export function toggleButton(onIcon: IconName, offIcon: IconName, what: string, onClick: () => void) {
  const el = h("button.round-btn", { type: "button", onclick: onClick });
  let state: boolean | null = null;
  const set = (on: boolean) => {
    if (state === on) return;
    state = on;
    clear(el);
    el.append(icon(on ? onIcon : offIcon));
    el.classList.toggle("off", !on);
    el.setAttribute("aria-label", `Turn ${on ? "off" : "on"} ${what}`);
    el.setAttribute("title", `Turn ${on ? "off" : "on"} ${what}`);
    el.setAttribute("aria-pressed", String(!on));
    el.dataset.on = String(on);
  };
  set(true);
  return { el, set };
}

export function roundButton(name: IconName, label: string, onClick: () => void, cls = "") {
  return h(`button.round-btn${cls}` as "button.x", { type: "button", "aria-label": label, title: label, onclick: onClick }, icon(name));
}
