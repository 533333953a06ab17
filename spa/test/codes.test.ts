import { describe, expect, it } from "vitest";
import { parseMeetingInput } from "../src/client/codes";
import { msidByMid } from "../src/client/sdp";

describe("parseMeetingInput", () => {
  it.each([
    ["abc-defg-hij", "abc-defg-hij"],
    ["  ABC-DEFG-HIJ ", "abc-defg-hij"],
    ["abcdefghij", "abc-defg-hij"],
    ["http://127.0.0.1:8080/abc-defg-hij", "abc-defg-hij"],
    ["https://meet.example.com/abc-defg-hij/", "abc-defg-hij"],
  ])("accepts %s", (input, want) => expect(parseMeetingInput(input)).toBe(want));

  it.each(["", "abc", "abc-defg-hi1", "https://x/abc-defg", "../../etc"])("rejects %s", (input) =>
    expect(parseMeetingInput(input)).toBeNull(),
  );
});

describe("msidByMid", () => {
  it("maps each m-section's mid to its msid", () => {
    const sdp = [
      "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "a=msid:s1 mic-1",
      "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=msid:s2 cam-1",
      "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:2", "",
    ].join("\r\n");
    const m = msidByMid(sdp);
    expect(m.get("0")).toEqual({ streamId: "s1", trackId: "mic-1" });
    expect(m.get("1")?.trackId).toBe("cam-1");
    expect(m.has("2")).toBe(false);
  });
});
