export interface RuntimeConfig {
  wsUrl: string;
  regions?: unknown[];
}

// The build is the same everywhere (CloudFront or the local stack); where the
// signaling WebSocket lives is read at start from /config.json.
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<RuntimeConfig> {
  const res = await fetchImpl("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
  const cfg = (await res.json()) as RuntimeConfig;
  if (typeof cfg?.wsUrl !== "string" || !/^wss?:\/\//.test(cfg.wsUrl)) {
    throw new Error("config.json: wsUrl must be a ws:// or wss:// URL");
  }
  return cfg;
}
