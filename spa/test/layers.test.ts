import { describe, expect, it } from "vitest";
import { applyActiveLayers, cameraEncodings, capBitrate, fallBackToOneLayer, rescaleLayers, type SenderLike } from "../src/client/layers";

// FakeSender keeps parameters as Chrome does: setParameters takes what
// getParameters gave, and the number of encodings never changes.
class FakeSender implements SenderLike {
  sets = 0;
  constructor(public encodings: RTCRtpEncodingParameters[]) {}
  getParameters(): RTCRtpSendParameters {
    return { transactionId: "t", encodings: this.encodings.map((e) => ({ active: true, ...e })), codecs: [], headerExtensions: [], rtcp: {} } as RTCRtpSendParameters;
  }
  async setParameters(p: RTCRtpSendParameters): Promise<void> {
    if (p.encodings.length !== this.encodings.length) throw new Error("InvalidModificationError");
    this.sets++;
    this.encodings = p.encodings.map((e) => ({ ...e }));
  }
}

describe("cameraEncodings", () => {
  it("a 720p camera: three layers low to high, a quarter, a half and the whole", () => {
    expect(cameraEncodings({ width: 1280, height: 720 })).toEqual([
      { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
      { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
      { rid: "f", maxBitrate: 1_500_000 },
    ]);
    expect(cameraEncodings()).toEqual(cameraEncodings({ width: 1280, height: 720 }));
  });

  it("keeps each layer near its size whatever the camera gives", () => {
    // 640×480 (Chromium's fake camera by default): 180 and 360 lines below.
    expect(cameraEncodings({ width: 640, height: 480 })).toEqual([
      { rid: "q", scaleResolutionDownBy: 2.67, maxBitrate: 150_000 },
      { rid: "h", scaleResolutionDownBy: 1.33, maxBitrate: 500_000 },
      { rid: "f", maxBitrate: 1_500_000 },
    ]);
    // 1080p: the top layer is 720p too.
    expect(cameraEncodings({ width: 1920, height: 1080 }).map((e) => [e.rid, e.scaleResolutionDownBy])).toEqual([["q", 6], ["h", 3], ["f", 1.5]]);
    // A portrait camera counts its short side.
    expect(cameraEncodings({ width: 720, height: 1280 })).toEqual(cameraEncodings({ width: 1280, height: 720 }));
  });

  it("drops a layer the camera is too small for; a tiny camera sends one layer, no rid", () => {
    expect(cameraEncodings({ width: 640, height: 360 }).map((e) => e.rid)).toEqual(["q", "f"]);
    expect(cameraEncodings({ width: 320, height: 180 })).toEqual([{ maxBitrate: 1_500_000 }]);
  });
});

describe("a refused simulcast", () => {
  const asked = cameraEncodings({ width: 1280, height: 720 });

  it("makes the one layer left (Chrome keeps the lowest) the top layer", async () => {
    const s = new FakeSender([{ rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 }]);
    expect(await fallBackToOneLayer(s, asked)).toBe(true);
    expect(s.encodings[0]).toMatchObject({ scaleResolutionDownBy: 1, maxBitrate: 1_500_000, active: true });
    expect(await fallBackToOneLayer(s, asked)).toBe(false); // once is enough
    expect(s.sets).toBe(1);
  });

  it("leaves a negotiated simulcast alone", async () => {
    const s = new FakeSender(asked);
    expect(await fallBackToOneLayer(s, asked)).toBe(false);
    expect(s.sets).toBe(0);
  });

  it("a sender that took no sendEncodings gets the top layer's ceiling", async () => {
    const s = new FakeSender([{}]);
    expect(await capBitrate(s, 1_500_000)).toBe(true);
    expect(s.encodings[0].maxBitrate).toBe(1_500_000);
  });
});

describe("applyActiveLayers (publish_layers)", () => {
  it("encodes exactly the layers listed", async () => {
    const s = new FakeSender(cameraEncodings());
    expect(await applyActiveLayers(s, ["q", "h"])).toBe(true);
    expect(s.encodings.map((e) => [e.rid, e.active])).toEqual([["q", true], ["h", true], ["f", false]]);
    expect(await applyActiveLayers(s, ["q", "h"])).toBe(false); // nothing to change, no call
    expect(s.sets).toBe(1);
    await applyActiveLayers(s, ["f"]);
    expect(s.encodings.map((e) => e.active)).toEqual([false, false, true]);
  });

  it("an empty list pauses every layer: nobody receives any", async () => {
    const s = new FakeSender(cameraEncodings());
    await applyActiveLayers(s, []);
    expect(s.encodings.map((e) => e.active)).toEqual([false, false, false]);
    await applyActiveLayers(s, ["q", "h", "f"]);
    expect(s.encodings.map((e) => e.active)).toEqual([true, true, true]);
  });

  it("one layer (simulcast refused) is on while anything is asked for", async () => {
    const s = new FakeSender([{ rid: "q" }]);
    await applyActiveLayers(s, []);
    expect(s.encodings[0].active).toBe(false);
    await applyActiveLayers(s, ["f"]);
    expect(s.encodings[0].active).toBe(true);
  });
});

describe("rescaleLayers", () => {
  it("keeps the layers' sizes when a 720p camera is replaced by a 480p one", async () => {
    const s = new FakeSender(cameraEncodings({ width: 1280, height: 720 }));
    expect(await rescaleLayers(s, { width: 640, height: 480 })).toBe(true);
    expect(s.encodings.map((e) => e.scaleResolutionDownBy ?? 1)).toEqual([2.67, 1.33, 1]);
    expect(await rescaleLayers(s, { width: 640, height: 480 })).toBe(false);
  });
});
