// Tokens are kept per meeting code in sessionStorage: a reload of the tab
// rejoins without knocking, while a second tab is a second person (two tabs
// sharing one token would be one participant fighting over one seat).
export interface TokenStore {
  get(code: string): string | null;
  set(code: string, token: string): void;
  delete(code: string): void;
}

const key = (code: string) => `veet:token:${code}`;

export function storageTokens(storage: Pick<Storage, "getItem" | "setItem" | "removeItem">): TokenStore {
  return {
    get: (code) => storage.getItem(key(code)),
    set: (code, token) => storage.setItem(key(code), token),
    delete: (code) => storage.removeItem(key(code)),
  };
}

export function memoryTokens(): TokenStore {
  const m = new Map<string, string>();
  return { get: (c) => m.get(c) ?? null, set: (c, t) => void m.set(c, t), delete: (c) => void m.delete(c) };
}
