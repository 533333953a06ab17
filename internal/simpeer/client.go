package simpeer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/veet-dev/veet/events"
)

// SendFunc delivers a command to the node (bus.Send bound to the node id).
type SendFunc func(ctx context.Context, cmd events.Command) error

// NewAPI returns a pion API for clients that gathers loopback candidates
// only, over UDP.
func NewAPI() (*webrtc.API, error) { return NewAPIOn(webrtc.NetworkTypeUDP4) }

// NewAPIOn is NewAPI over the given networks (e.g. TCP4 only, as behind a
// firewall that blocks UDP).
func NewAPIOn(networks ...webrtc.NetworkType) (*webrtc.API, error) {
	return newAPI(nil, func(ip net.IP) bool { return ip.IsLoopback() }, networks...)
}

// NewAPIInNet is NewAPI for a client whose sockets and interfaces are n's
// (a network namespace: testenv.NetNS), gathering the addresses allow
// takes, over UDP.
func NewAPIInNet(n transport.Net, allow func(net.IP) bool) (*webrtc.API, error) {
	return newAPI(n, allow, webrtc.NetworkTypeUDP4)
}

func newAPI(n transport.Net, allow func(net.IP) bool, networks ...webrtc.NetworkType) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	// Browsers send their microphone's level in every audio packet.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	// Simulated browsers keep quiet: what matters is what the node does.
	quiet := logging.NewDefaultLoggerFactory()
	quiet.DefaultLogLevel = logging.LogLevelDisabled
	se := webrtc.SettingEngine{LoggerFactory: quiet}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(allow)
	if n != nil {
		se.SetNet(n)
	}
	se.SetNetworkTypes(networks)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Client is one simulated participant.
type Client struct {
	ID   events.ParticipantID
	Room events.RoomCode
	Conn events.ConnRef

	api  *webrtc.API
	send SendFunc

	mu sync.Mutex
	// session is the media session the client's connections belong to
	// (events.JoinRequest.Session); epoch the placement epoch it knows. Node
	// events of another session or an older epoch are dropped, as the SPA
	// drops them.
	session  string
	epoch    uint64
	stale    int // node events dropped for their session or epoch
	sub      *webrtc.PeerConnection
	pub      *webrtc.PeerConnection
	outs     []*Out
	recv     map[string]*In // by track id
	gaps     *Gaps          // by track id, across sessions
	errs     []events.ErrorEvent
	tracks   []events.Track // last Tracks event
	offers   []events.SubscribeOffer
	speakers [][]events.ParticipantID
	seen     map[events.EventType]int
	answered chan string // publish answers
	reqSeq   int
	JoinedAt time.Time
	// PublishedAt is when the last Publish got its answer.
	PublishedAt time.Time
	// VideoCodec is the MIME type of published video ("" = VP8).
	VideoCodec string
	// Simulcast, when set, publishes the camera in these layers (RIDs).
	Simulcast []LayerSpec
	// layers is every publish_layers the node sent.
	layers [][]events.PublishedLayers
}

// New returns a client of room; it joins with Join.
func New(api *webrtc.API, room events.RoomCode, send SendFunc) (*Client, error) {
	id := events.NewParticipantID()
	c := &Client{
		ID: id, Room: room, api: api, send: send,
		Conn:     events.ConnRef{ConnectionID: events.ConnectionID("c-" + string(id)), Endpoint: "http://pusher.test"},
		recv:     map[string]*In{},
		gaps:     NewGaps(),
		seen:     map[events.EventType]int{},
		answered: make(chan string, 4),
	}
	if err := c.NewSession(); err != nil {
		return nil, err
	}
	return c, nil
}

// NewSession closes the client's connections (if any) and starts a new
// media session with a fresh subscribe connection: the caller joins with it
// and publishes again.
func (c *Client) NewSession() error {
	sub, err := c.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	sub.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		c.mu.Lock()
		in := newIn(t, c.gaps.of(t.ID()))
		c.recv[t.ID()] = in
		c.mu.Unlock()
		go in.run()
		// Reading the node's RTCP (sender reports) lets the receiver
		// reports say when they last heard one, as a browser's do.
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := r.Read(buf); err != nil {
					return
				}
			}
		}()
	})
	var b [6]byte
	_, _ = rand.Read(b[:])
	c.mu.Lock()
	oldSub, oldPub, outs := c.sub, c.pub, c.outs
	c.sub, c.pub, c.outs = sub, nil, nil
	c.session = "s-" + hex.EncodeToString(b[:])
	for len(c.answered) > 0 {
		<-c.answered
	}
	c.mu.Unlock()
	for _, o := range outs {
		o.stop()
	}
	if oldPub != nil {
		_ = oldPub.Close()
	}
	if oldSub != nil {
		_ = oldSub.Close()
	}
	return nil
}

// Session is the client's current media session.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// SetEpoch records the placement epoch the client joined at; node events of
// an older one are dropped.
func (c *Client) SetEpoch(e uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch = max(c.epoch, e)
}

// Epoch is the newest placement epoch the client knows.
func (c *Client) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// Stale is how many node events were dropped for belonging to another
// session or an older epoch.
func (c *Client) Stale() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stale
}

// Close closes both connections.
func (c *Client) Close() {
	c.mu.Lock()
	pub, sub, outs := c.pub, c.sub, c.outs
	c.mu.Unlock()
	for _, o := range outs {
		o.stop()
	}
	if pub != nil {
		_ = pub.Close()
	}
	_ = sub.Close()
}

func (c *Client) nextReq() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqSeq++
	return fmt.Sprintf("r%d", c.reqSeq)
}

// Command sends a command of this participant with its room, connection
// and media session filled in.
func (c *Client) Command(ctx context.Context, cmd events.Command) error {
	cmd.Room, cmd.Participant, cmd.Conn = c.Room, c.ID, c.Conn
	if cmd.Session == "" {
		cmd.Session = c.Session()
	}
	if cmd.RequestID == "" {
		cmd.RequestID = c.nextReq()
	}
	cmd.GatewayRequestID = "gw-" + cmd.RequestID
	return c.send(ctx, cmd)
}

// Join asks the node to set the participant up with its media session.
func (c *Client) Join(ctx context.Context, muted ...events.Source) error {
	c.JoinedAt = time.Now()
	return c.Command(ctx, events.Command{Type: events.CmdJoin, MutedSources: muted})
}

// Leave asks the node to close the participant's media.
func (c *Client) Leave(ctx context.Context) error {
	return c.Command(ctx, events.Command{Type: events.CmdLeave})
}

// Deliver handles one event pushed by the node. Events of another media
// session, or of an older placement epoch than the client knows, are
// dropped: they come from a session the client left, or a node that no
// longer owns the room.
func (c *Client) Deliver(data []byte) {
	var head events.Meta
	_ = json.Unmarshal(data, &head)
	c.mu.Lock()
	if (head.Session != "" && head.Session != c.session) || (head.Epoch != 0 && head.Epoch < c.epoch) {
		c.stale++
		c.mu.Unlock()
		return
	}
	c.seen[head.Type]++
	c.mu.Unlock()
	switch head.Type {
	case events.TypeSubscribeOffer:
		var e events.SubscribeOffer
		_ = json.Unmarshal(data, &e)
		c.mu.Lock()
		c.offers = append(c.offers, e)
		c.mu.Unlock()
		c.answerOffer(e)
	case events.TypePublishAnswer:
		var e events.PublishAnswer
		_ = json.Unmarshal(data, &e)
		c.answered <- e.SDP
	case events.TypeError:
		var e events.ErrorEvent
		_ = json.Unmarshal(data, &e)
		c.mu.Lock()
		c.errs = append(c.errs, e)
		c.mu.Unlock()
	case events.TypeTracks:
		var e events.Tracks
		_ = json.Unmarshal(data, &e)
		c.mu.Lock()
		c.tracks = e.Tracks
		c.mu.Unlock()
	case events.TypePublishLayers:
		var e events.PublishLayers
		_ = json.Unmarshal(data, &e)
		c.mu.Lock()
		c.layers = append(c.layers, e.Tracks)
		outs := c.outs
		c.mu.Unlock()
		for _, t := range e.Tracks {
			for _, o := range outs {
				if o.mid == t.Mid {
					o.setActive(t.Active)
				}
			}
		}
	case events.TypeActiveSpeakers:
		var e events.ActiveSpeakers
		_ = json.Unmarshal(data, &e)
		c.mu.Lock()
		c.speakers = append(c.speakers, e.ParticipantIDs)
		c.mu.Unlock()
	}
}

func (c *Client) answerOffer(e events.SubscribeOffer) {
	c.mu.Lock()
	sub, session := c.sub, c.session
	c.mu.Unlock()
	if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: e.SDP}); err != nil {
		c.recordLocal("set subscribe offer: " + err.Error())
		return
	}
	answer, err := sub.CreateAnswer(nil)
	if err != nil {
		c.recordLocal("create subscribe answer: " + err.Error())
		return
	}
	gathered := webrtc.GatheringCompletePromise(sub)
	if err := sub.SetLocalDescription(answer); err != nil {
		c.recordLocal("set subscribe answer: " + err.Error())
		return
	}
	<-gathered
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Command(ctx, events.Command{Type: events.CmdSubscribeAnswer, SDP: sub.LocalDescription().SDP,
		Session: session, OfferID: e.OfferID}); err != nil {
		c.recordLocal("send subscribe answer: " + err.Error())
	}
}

// recordLocal notes a client-side failure as an error the test will see.
func (c *Client) recordLocal(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, events.ErrorEvent{Code: "client", Message: msg})
}

// Publish adds tracks of the given sources (one audio source of Opus, any
// other VP8 at videoBps) and negotiates them with the node.
func (c *Client) Publish(ctx context.Context, videoBps int, sources ...events.Source) ([]*Out, error) {
	c.mu.Lock()
	pc := c.pub
	c.mu.Unlock()
	if pc == nil {
		var err error
		if pc, err = c.api.NewPeerConnection(webrtc.Configuration{}); err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.pub = pc
		c.mu.Unlock()
	}
	var outs []*Out
	var infos []events.TrackInfo
	for _, s := range sources {
		o, err := newOut(pc, s, videoBps, c.VideoCodec, c.Simulcast)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
		infos = append(infos, events.TrackInfo{TrackID: o.track.ID(), Source: s})
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, err
	}
	<-gathered
	if err := c.Command(ctx, events.Command{Type: events.CmdPublishOffer, SDP: pc.LocalDescription().SDP, Tracks: infos}); err != nil {
		return nil, err
	}
	select {
	case sdp := <-c.answered:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("no publish answer: %w (errors: %v)", ctx.Err(), c.Errors())
	}
	c.mu.Lock()
	c.outs = append(c.outs, outs...)
	c.PublishedAt = time.Now()
	c.mu.Unlock()
	for _, o := range outs {
		o.start(pc)
	}
	return outs, nil
}

// ClosePublishing closes the publish connection without telling the node,
// as a browser tab that crashed or lost its network would.
func (c *Client) ClosePublishing() {
	c.mu.Lock()
	pub, outs := c.pub, c.outs
	c.pub, c.outs = nil, nil
	c.mu.Unlock()
	for _, o := range outs {
		o.stop()
	}
	if pub != nil {
		_ = pub.Close()
	}
}

// Outs returns every published track.
func (c *Client) Outs() []*Out {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Out(nil), c.outs...)
}

// StopPublishing stops every synthetic source (the tracks stay negotiated).
func (c *Client) StopPublishing() {
	for _, o := range c.Outs() {
		o.stop()
	}
}

// Errors returns the error events received so far.
func (c *Client) Errors() []events.ErrorEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.ErrorEvent(nil), c.errs...)
}

// Tracks returns the last Tracks event's list.
func (c *Client) Tracks() []events.Track {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Track(nil), c.tracks...)
}

// Offers returns every SubscribeOffer received.
func (c *Client) Offers() []events.SubscribeOffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.SubscribeOffer(nil), c.offers...)
}

// PublishLayers returns every publish_layers list received.
func (c *Client) PublishLayers() [][]events.PublishedLayers {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]events.PublishedLayers(nil), c.layers...)
}

// VideoSizes tells the node at what size each received video is shown.
func (c *Client) VideoSizes(ctx context.Context, sizes ...events.VideoSize) error {
	return c.Command(ctx, events.Command{Type: events.CmdVideoSizes, Sizes: sizes})
}

// Mid is the subscribe transceiver mid of a received track (by track id)
// in the latest subscribe offer, "" if it is not there.
func (c *Client) Mid(trackID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.offers) == 0 {
		return ""
	}
	for _, t := range c.offers[len(c.offers)-1].Tracks {
		if t.TrackID == trackID {
			return t.Mid
		}
	}
	return ""
}

// Speakers returns every ActiveSpeakers list received.
func (c *Client) Speakers() [][]events.ParticipantID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]events.ParticipantID(nil), c.speakers...)
}

// In returns the incoming track with the given id, or nil.
func (c *Client) In(trackID string) *In {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recv[trackID]
}

// Ins returns every incoming track so far.
func (c *Client) Ins() []*In {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*In, 0, len(c.recv))
	for _, in := range c.recv {
		out = append(out, in)
	}
	return out
}

// Seen is how many events of type t arrived.
func (c *Client) Seen(t events.EventType) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[t]
}

// SubscribeNetwork is the transport ("udp", "tcp") of the subscribe
// connection's selected candidate pair, "" before there is one.
func (c *Client) SubscribeNetwork() string {
	c.mu.Lock()
	sub := c.sub
	c.mu.Unlock()
	pair, err := sub.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return ""
	}
	return pair.Local.Protocol.String()
}

// SubscribeState is the subscribe connection's state.
func (c *Client) SubscribeState() webrtc.PeerConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sub.ConnectionState()
}

// Gap is the arrival record of one track (by its id) across the client's
// sessions; nil before any of it arrived.
func (c *Client) Gap(trackID string) *Gap { return c.gaps.Get(trackID) }

// ShareGaps makes the client record arrivals in g: one person's successive
// clients (one per media session) share one record. Call before media flows.
func (c *Client) ShareGaps(g *Gaps) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gaps = g
}
