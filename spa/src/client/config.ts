export interface RegionEndpoint {
  region: string;
  wsUrl: string;
}

export interface RuntimeConfig {
  wsUrl: string;
  // Every region's own WebSocket API: a meeting is joined through the
  // region it lives in (lookup and wrong_region name it).
  regions?: RegionEndpoint[];
}

// endpointFor is the WebSocket API of region, or the default one.
export function endpointFor(cfg: RuntimeConfig, region: string | undefined): string {
  return cfg.regions?.find((r) => r.region === region)?.wsUrl ?? cfg.wsUrl;
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
