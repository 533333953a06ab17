package events

import (
	"fmt"
	"regexp"
)

// Adaptive media: what a subscriber tells the node about the size it shows
// each video at, and what the node tells a publisher about the simulcast
// layers anyone receives.

const (
	ActionVideoSizes  Action    = "video_sizes"
	TypePublishLayers EventType = "publish_layers"

	// CmdVideoSizes carries a subscriber's VideoSizesRequest to its node.
	CmdVideoSizes CommandType = "video_sizes"
)

// Limits on video_sizes: a page of tiles is far below MaxVideoSizes, and no
// screen renders a video larger than MaxVideoDimension pixels.
const (
	MaxVideoSizes     = 200
	MaxVideoDimension = 8192
)

// The simulcast layers a camera is published in, by RTP stream id (RID):
// a quarter, half and full size. A track without RIDs is one layer.
const (
	RIDQuarter = "q"
	RIDHalf    = "h"
	RIDFull    = "f"
)

// VideoSize is the size one received video is shown at: the subscriber's
// transceiver mid (from the tracks of its subscribe_offer and tracks events)
// and the rendered size in device pixels (CSS pixels × devicePixelRatio).
// A width or height of 0 means not shown: the node sends that video nothing.
type VideoSize struct {
	Mid    string `json:"mid" veet:"required"`
	Width  int    `json:"width" veet:"required"`
	Height int    `json:"height" veet:"required"`
}

// VideoSizesRequest says at what size the subscriber shows each video of
// its media session, all of them at once: a video the list does not name
// is not shown (paused for this subscriber). Until a session has sent one,
// every video's size is unknown and the node sends the best layer the
// subscriber's bandwidth allows. Reply Ack.
type VideoSizesRequest struct {
	Request
	Session string      `json:"session" veet:"required"`
	Sizes   []VideoSize `json:"sizes" veet:"required"`
}

// PublishedLayers is one simulcast track of a publisher: its transceiver
// mid on the publish connection and the RIDs some subscriber receives.
// Encode those and pause the others (RTCRtpEncodingParameters.active).
type PublishedLayers struct {
	Mid    string   `json:"mid"`
	Active []string `json:"active"`
}

// PublishLayers tells a publisher which layers of each of its simulcast
// tracks are needed (dynacast). It lists every simulcast track the node
// receives from this publisher, each time in full; a track without RIDs is
// never listed (it is always needed). Sent when the set changes: within
// half a second when a layer is needed again, about a second later when
// one is no longer.
type PublishLayers struct {
	Meta
	Tracks []PublishedLayers `json:"tracks"`
}

func (*PublishLayers) EventType() EventType { return TypePublishLayers }

// midRE is what a transceiver mid looks like (RFC 8843 allows any token;
// browsers and pion use small numbers).
var midRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

func (m *VideoSizesRequest) validate() error {
	if err := checkSession(m.Session); err != nil {
		return err
	}
	return CheckVideoSizes(m.Sizes)
}

// CheckVideoSizes refuses a list of sizes that is too long, names a mid
// twice, or has a size out of range.
func CheckVideoSizes(sizes []VideoSize) error {
	if len(sizes) > MaxVideoSizes {
		return fmt.Errorf("at most %d sizes", MaxVideoSizes)
	}
	seen := make(map[string]bool, len(sizes))
	for _, s := range sizes {
		if !midRE.MatchString(s.Mid) {
			return fmt.Errorf("mid must be 1-32 characters of [A-Za-z0-9_.-]")
		}
		if seen[s.Mid] {
			return fmt.Errorf("mid %q is given twice", s.Mid)
		}
		seen[s.Mid] = true
		if s.Width < 0 || s.Height < 0 || s.Width > MaxVideoDimension || s.Height > MaxVideoDimension {
			return fmt.Errorf("width and height must be 0..%d", MaxVideoDimension)
		}
	}
	return nil
}
