// msidByMid reads, from an SDP, the track id each m-section announces
// (a=msid:<stream> <track>). After replaceTrack the sender's MediaStreamTrack
// has a new id but the SDP, which is what the SFU sees, keeps the old one; so
// the track list sent with an offer is read from the offer itself.
export function msidByMid(sdp: string): Map<string, { streamId: string; trackId: string }> {
  const out = new Map<string, { streamId: string; trackId: string }>();
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const mid = /\na=mid:(\S+)/.exec("\n" + section)?.[1];
    const msid = /\na=msid:(\S+) (\S+)/.exec("\n" + section);
    if (mid && msid) out.set(mid, { streamId: msid[1], trackId: msid[2] });
  }
  return out;
}
