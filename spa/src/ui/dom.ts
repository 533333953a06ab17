// h builds an element: h("button.primary", { "aria-label": "Leave", onclick }, "Leave").
// Keys starting with "on" become listeners; the rest are attributes, except
// a few DOM properties that have no attribute form (value, checked, muted…).
type Child = Node | string | null | undefined | false;
type Attrs = Record<string, unknown>;

const props = new Set(["value", "checked", "muted", "autoplay", "playsInline", "srcObject", "disabled", "hidden"]);

type TagOf<S extends string> = S extends `${infer T}.${string}` ? T : S;
type ElementOf<S extends string> = TagOf<S> extends keyof HTMLElementTagNameMap ? HTMLElementTagNameMap[TagOf<S>] : HTMLElement;

export function h<S extends string>(spec: S, attrs: Attrs = {}, ...children: Child[]): ElementOf<S> {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag) as ElementOf<S>;
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (props.has(k)) (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

// svg parses a trusted, inline icon.
export function svg(markup: string): SVGElement {
  const t = document.createElement("template");
  t.innerHTML = markup.trim();
  return t.content.firstElementChild as SVGElement;
}

// initials for an avatar: the first letter of each of the first two words
// that have one. Letters only: "<img src=x>" gives "IS", not "<S".
export function initials(name: string): string {
  const letters = name.split(/\s+/).map((w) => [...w].find((ch) => /\p{L}/u.test(ch))).filter((ch) => ch !== undefined);
  return (letters.slice(0, 2).join("") || "?").toUpperCase();
}

// The label beside a name for the roles that have one. It always comes from
// the server's role, never from the name, and is drawn apart from it (a badge),
// so a guest who calls themselves "Meeting host" does not look like one.
export const roleLabel: Record<string, string> = { host: "Meeting host", cohost: "Co-host" };

// A stable colour per person, so an avatar keeps its colour across renders.
const palette = ["#1a73e8", "#e37400", "#188038", "#d93025", "#9334e6", "#12858a", "#c5221f", "#b06000"];
export function colorFor(id: string): string {
  let x = 0;
  for (const ch of id) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return palette[x % palette.length];
}
