package sfu

// Track identity on the subscribe side — the convention the SPA relies on.
//
// Every track a participant receives on their subscribe PeerConnection is
// announced in the SubscribeOffer's SDP as a=msid:<streamId> <trackId> with
//
//	streamId = the publisher's participant id     e.g. "p_Ab3dE5gH9jK1"
//	trackId  = "<participantId>-<source>"         e.g. "p_Ab3dE5gH9jK1-camera"
//
// In the browser's ontrack, e.streams[0].id is the publisher and e.track.id
// the trackId (browsers take a remote MediaStreamTrack's id from the msid).
// SubscribeOffer.Tracks and the room-wide Tracks event list the same ids with
// source, kind and muted state, so a client maps each incoming track to a
// tile without parsing SDP. A screen share is one more video track with
// source "screen" ("screen_audio" for its sound); a publisher has at most one
// track per source. Publishers name their tracks by their own browser ids in
// PublishOffer.Tracks; the node maps those to sources and renames them as
// above.

import (
	"sort"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

// subscriberTrack is how subscribers see a published track.
func subscriberTrack(pid events.ParticipantID, source events.Source, kind webrtc.RTPCodecType) events.Track {
	return events.Track{
		ParticipantID: pid,
		Source:        source,
		StreamID:      string(pid),
		TrackID:       string(pid) + "-" + string(source),
		Kind:          kind.String(),
	}
}

func sortTracks(ts []events.Track) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].TrackID < ts[j].TrackID })
}

// wantsKeyframe reports whether a subscriber asked for a keyframe.
func wantsKeyframe(pkts []rtcp.Packet) bool {
	for _, p := range pkts {
		switch p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			return true
		}
	}
	return false
}
