import type { RuntimeConfig } from "../client/config";
import type { TokenStore } from "../client/tokens";
import type { Preview } from "./preview";

// Shell is what a page may ask of the app that shows it. Pages depend on
// this, not on the router (app.ts), so the imports run one way.
export interface Shell {
  readonly config: RuntimeConfig;
  readonly tokens: TokenStore;
  navigate(path: string): void;
  // rejoin starts over at the pre-join page of the same meeting.
  rejoin(code: string): void;
  joinMeeting(code: string, name: string, micOn: boolean, camOn: boolean, preview: Preview, region?: string): Promise<void>;
}
