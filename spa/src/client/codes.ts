// Meeting codes look like abc-defg-hij (events/ids.go). People paste links,
// codes without dashes, or codes in capitals; parseMeetingInput accepts all.
const codeRE = /^[a-z]{3}-[a-z]{4}-[a-z]{3}$/;

export function isMeetingCode(s: string): boolean {
  return codeRE.test(s);
}

export function parseMeetingInput(input: string): string | null {
  let s = input.trim();
  if (!s) return null;
  try {
    if (/^https?:\/\//i.test(s)) s = new URL(s).pathname;
  } catch {
    return null;
  }
  s = s.replace(/^\/+|\/+$/g, "").toLowerCase();
  if (isMeetingCode(s)) return s;
  const letters = s.replace(/[\s-]/g, "");
  if (/^[a-z]{10}$/.test(letters)) return `${letters.slice(0, 3)}-${letters.slice(3, 7)}-${letters.slice(7)}`;
  return null;
}
