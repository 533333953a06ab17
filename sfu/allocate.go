package sfu

import (
	"math"
	"sort"
)

// The allocator shares one subscriber's downlink estimate among the tracks
// it receives. Audio is always sent and comes off the top. Video goes by
// priority — a screen share, then the most recent speakers, then the
// larger tiles — in two passes: first every video that fits gets its
// lowest layer (so a tight link shows more people small rather than one
// person large), then each in turn is raised towards the layer its tile
// needs as far as what is left allows. A video whose lowest layer does not
// fit is paused, as are hidden ones and those past the last-N bound.

// layerInfo is one layer of a track as the allocator sees it.
type layerInfo struct {
	rate   int  // bit/s
	height int  // pixels, 0 when unknown
	usable bool // arriving, or about to (dynacast turned it on, or can)
}

// allocTrack is one track a subscriber receives.
type allocTrack struct {
	video  bool
	screen bool
	// speaker is the publisher's rank among the room's recent speakers
	// (0 the most recent), -1 when it never spoke.
	speaker int
	// sized: the subscriber sent sizes; height is the tile's (0 hidden).
	// Unsized, the track is shown at an unknown size: the best layer.
	sized  bool
	height int
	layers []layerInfo // lowest first
	cur    int         // the layer sent now, -1 none
}

// upgradeMargin is how much more than a higher layer's extra cost must be
// left to move up to it: the estimate wobbles, and every switch costs a
// keyframe.
const upgradeMargin = 1.15

// pauseMargin (% of the budget) is how far a video already on may go over
// before it is paused.
const pauseMargin = 10

// allocate returns the layer each track gets (-1: paused) within budget
// bit/s, at most lastN videos. Without raise no track moves above the
// layer it is on (the last step up has not been judged by the link yet).
func allocate(budget int, tracks []allocTrack, lastN int, raise bool) []int {
	out := make([]int, len(tracks))
	left := budget
	var videos []int
	for i, t := range tracks {
		out[i] = -1
		switch {
		case !t.video:
			out[i] = 0
			if len(t.layers) > 0 {
				left -= t.layers[0].rate
			}
		case t.sized && t.height == 0, len(t.layers) == 0:
			// Not shown, or nothing to send.
		default:
			videos = append(videos, i)
		}
	}
	sort.SliceStable(videos, func(a, b int) bool { return before(&tracks[videos[a]], &tracks[videos[b]]) })
	if len(videos) > lastN {
		videos = videos[:lastN]
	}
	// Pass 1: the lowest usable layer of each, by priority. One that is
	// on already stays while it overshoots by less than pauseMargin of the
	// budget: a pause costs a keyframe to come back, and the estimate
	// wobbles after each probe.
	for _, i := range videos {
		l := lowest(tracks[i].layers)
		slack := 0
		if tracks[i].cur >= 0 {
			slack = budget * pauseMargin / 100
		}
		if r := tracks[i].layers[l].rate; r <= left+slack {
			out[i] = l
			left -= r
		}
	}
	// Pass 2: up towards each tile's layer, by priority; at most one layer
	// above the current one per round, for one track (a new track starts
	// on its lowest), so the link is probed a step at a time.
	for _, i := range videos {
		t := &tracks[i]
		if out[i] < 0 {
			continue
		}
		want := min(wanted(t), t.cur+1)
		if !raise {
			want = min(want, max(t.cur, 0))
		}
		for l := want; l > out[i]; l-- {
			if !t.layers[l].usable {
				continue
			}
			extra := t.layers[l].rate - t.layers[out[i]].rate
			need := extra
			if l > t.cur {
				need = int(float64(extra) * upgradeMargin)
			}
			if need <= left {
				left -= extra
				out[i] = l
				if l > t.cur && t.cur >= 0 {
					raise = false // this round's step
				}
				break
			}
		}
	}
	return out
}

// before orders videos by priority.
func before(a, b *allocTrack) bool {
	if a.screen != b.screen {
		return a.screen
	}
	ra, rb := rank(a.speaker), rank(b.speaker)
	if ra != rb {
		return ra < rb
	}
	return shownHeight(a) > shownHeight(b)
}

func rank(s int) int {
	if s < 0 {
		return math.MaxInt
	}
	return s
}

func shownHeight(t *allocTrack) int {
	if !t.sized {
		return math.MaxInt
	}
	return t.height
}

// lowest is the lowest usable layer (the lowest of all when none is).
func lowest(ls []layerInfo) int {
	for i, l := range ls {
		if l.usable {
			return i
		}
	}
	return 0
}

// wanted is the layer a tile needs: the smallest usable one at least about
// as tall as the tile (the top one for an unknown size or height).
func wanted(t *allocTrack) int {
	top := len(t.layers) - 1
	for top > 0 && !t.layers[top].usable {
		top--
	}
	if !t.sized {
		return top
	}
	for i := 0; i <= top; i++ {
		l := t.layers[i]
		if l.usable && l.height > 0 && float64(l.height) >= 0.9*float64(t.height) {
			return i
		}
	}
	return top
}
