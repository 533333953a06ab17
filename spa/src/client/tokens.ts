// Tokens are kept per meeting code. A participant's lives in the tab
// (sessionStorage): a reload rejoins without knocking, while a second tab is
// a second person (two tabs sharing one token would be one participant
// fighting over one seat). A host's or co-host's is also kept in the browser
// (localStorage) until it expires, as Meet keeps a host signed in: closing
// the tab and opening the link again brings the host back as host, without
// knocking.
export interface TokenStore {
  get(code: string): string | null;
  // keep: the token is a host's or co-host's, to outlive the tab.
  set(code: string, token: string, keep?: boolean): void;
  delete(code: string): void;
}

const key = (code: string) => `veet:token:${code}`;

type Store = Pick<Storage, "getItem" | "setItem" | "removeItem">;

// expiry reads a token's exp (Unix s) from its claims (kid.claims.sig,
// base64url JSON); 0 when it cannot.
export function expiry(token: string): number {
  const claims = token.split(".")[1];
  if (!claims) return 0;
  try {
    const json = atob(claims.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp : 0;
  } catch {
    return 0;
  }
}

// storageTokens keeps tokens in the tab's storage, and the ones to keep also
// in the browser's, until they expire.
export function storageTokens(tab: Store, browser?: Store, now: () => number = () => Date.now()): TokenStore {
  const kept = (code: string): string | null => {
    const t = browser?.getItem(key(code)) ?? null;
    if (t && expiry(t) * 1000 <= now()) {
      browser?.removeItem(key(code));
      return null;
    }
    return t;
  };
  return {
    get: (code) => tab.getItem(key(code)) ?? kept(code),
    set: (code, token, keep = false) => {
      tab.setItem(key(code), token);
      if (keep) browser?.setItem(key(code), token);
    },
    delete: (code) => {
      tab.removeItem(key(code));
      browser?.removeItem(key(code));
    },
  };
}

export function memoryTokens(): TokenStore {
  const m = new Map<string, string>();
  return { get: (c) => m.get(c) ?? null, set: (c, t) => void m.set(c, t), delete: (c) => void m.delete(c) };
}

// guestKey is the key this browser knocks with (PROTOCOL.md, join.guest): a
// host's denial then holds across "try again" and reloads.
export function guestKey(store: Store = localStorage): string {
  const k = "veet:guest";
  let v = store.getItem(k);
  if (!v || !/^[A-Za-z0-9_.:-]{1,64}$/.test(v)) {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    v = "g-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    store.setItem(k, v);
  }
  return v;
}
