package lambdas

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"time"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/internal/state"
	"github.com/veet-dev/veet/internal/token"
)

func (h *Handlers) create(ctx context.Context, c *call) error {
	m := c.msg.(*events.CreateRequest)
	src := knockSource(c.req.RequestContext.Identity.SourceIP)
	if ok, retry, err := h.d.State.AllowSource(ctx, "create", src, state.CreateLimit); err != nil {
		return err
	} else if !ok {
		return &state.Refused{Err: events.Errorf(events.CodeRateLimited, "too many meetings created from your address; wait"),
			RetryAfterMS: retry.Milliseconds()}
	}
	host := events.NewParticipantID()
	code, err := h.d.State.Create(ctx, m.Title, host, h.d.Region)
	if err != nil {
		return err
	}
	tok, err := h.d.Tokens.Sign(token.Claims{Room: code, Participant: host, Role: events.RoleHost}, TokenTTL)
	if err != nil {
		return err
	}
	h.log.Info("meeting created", "room", code, "host", host, "conn", c.connID())
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Created{Code: code, HostToken: tok,
		ExpiresAt: time.Now().Add(state.RoomTTL).UnixMilli()}))
	return nil
}

// join seats the holder of a token of this meeting, or puts a caller without
// one in the lobby.
func (h *Handlers) join(ctx context.Context, c *call) error {
	m := c.msg.(*events.JoinRequest)
	// Without a token of its own, a join uses the socket's ($connect's). One
	// that expired since, or is for another meeting, is refused below like
	// any bad token: knocking instead would hide from a client holding a
	// token that it no longer opens the meeting.
	tok := m.Token
	if tok == "" {
		tok = c.conn.Token
	}
	if tok == "" {
		return h.knock(ctx, c, m)
	}
	claims, err := h.d.Tokens.Verify(tok)
	if err != nil {
		if errors.Is(err, token.ErrExpired) {
			return refuse(events.CodeUnauthorized, "the token has expired; join again from the lobby")
		}
		return refuse(events.CodeUnauthorized, "the token is not valid")
	}
	if claims.Room != m.Code {
		return refuse(events.CodeUnauthorized, "the token is for another meeting")
	}
	if claims.Role == events.RoleGuest {
		return refuse(events.CodeUnauthorized, "a guest token cannot join")
	}
	now := time.Now().UnixMilli()
	res, err := h.d.State.Join(ctx, state.JoinInput{Code: m.Code, Conn: c.ref(), Region: h.d.Region,
		Participant: events.Participant{ID: claims.Participant, Name: m.Name, Role: claims.Role,
			MicOn: m.MicOn, CamOn: m.CamOn, JoinedAt: now}})
	if err != nil {
		return err
	}
	// Media first: without the node's join the participant would sit in a
	// room they cannot hear. If the command cannot be queued, undo the seat
	// as a leave, so that whoever saw it (a rejoin was in the room) sees it go.
	// A replaced connection needs no leave: the join names the new one, and
	// the node keeps the session's media when the session is the same.
	cmd := joinCommand(m.Code, res.Me, res.Room.Seq, c.ref(), c.id(), c.gatewayID())
	cmd.Epoch, cmd.Session, cmd.Resume, cmd.Meta = res.Epoch, m.Session, m.Resume, res.Meta
	if err := h.command(ctx, res.Node, cmd); err != nil {
		seat := &state.Conn{ID: c.connID(), Endpoint: c.conn.Endpoint, Room: m.Code, Participant: claims.Participant}
		if lerr := h.vacate(ctx, seat, events.ReasonDisconnected, ""); lerr != nil {
			h.log.Error("join: undo after command failure", "room", m.Code, "err", lerr)
		}
		return refuse(events.CodeUnavailable, "the media server cannot be reached; try again")
	}
	prev := *c.conn
	if err := h.d.State.BindConn(ctx, c.connID(), m.Code, claims.Participant); err != nil {
		return err
	}
	c.conn.Room, c.conn.Participant = m.Code, claims.Participant

	fresh, err := h.d.Tokens.Sign(token.Claims{Room: m.Code, Participant: claims.Participant, Role: baseRole(claims.Role), Name: m.Name}, TokenTTL)
	if err != nil {
		return err
	}
	h.log.Info("participant joined", "room", m.Code, "participant", claims.Participant, "role", res.Me.Role,
		"node", res.Node, "epoch", res.Epoch, "placed", res.Placed, "rejoin", res.Rejoin, "seq", res.Room.Seq)
	joined := events.Reply(c.id(), &events.Joined{You: res.Me, Token: fresh, Room: res.Room})
	joined.Epoch, joined.Session = res.Epoch, m.Session
	h.reply(ctx, c.ref(), joined)
	switch {
	case res.Unchanged:
		// A new socket or a resent join: others see nothing new.
	case res.Rejoin:
		h.broadcast(ctx, res.Others, events.WithSeq(res.Room.Seq, &events.ParticipantUpdated{Participant: res.Me}))
	default:
		h.broadcast(ctx, res.Others, events.WithSeq(res.Room.Seq, &events.ParticipantJoined{Participant: res.Me}))
	}
	h.vacateOther(ctx, &prev, m.Code, claims.Participant)
	if res.Replaced != nil {
		// The old tab learns why it lost the meeting, then its socket closes;
		// its $disconnect finds no seat to free.
		h.post(ctx, *res.Replaced, &events.Left{})
		if err := h.d.Push.Delete(ctx, *res.Replaced); err != nil {
			h.log.Warn("close replaced connection", "conn", res.Replaced.ConnectionID, "err", err)
		}
	}
	if res.PrevNodeDead() {
		// This join found the room's node gone and placed it anew: everyone
		// else follows it there.
		h.log.Warn("room re-placed after its node died", "room", m.Code, "node", res.Node, "epoch", res.Epoch, "participants", len(res.Others))
		h.mediaMoved(ctx, res.Others, res.Epoch, "media server moved")
	}
	return nil
}

// vacateOther frees the seat or lobby place prev (the connection before this
// join or knock) held for someone else or in another meeting, once the new one
// is announced: a connection speaks for one person in one meeting at a time,
// and a refused join or knock keeps the old place.
func (h *Handlers) vacateOther(ctx context.Context, prev *state.Conn, code events.RoomCode, pid events.ParticipantID) {
	if prev.Room == "" || (prev.Room == code && prev.Participant == pid) {
		return
	}
	if err := h.vacate(ctx, prev, events.ReasonLeft, ""); err != nil {
		h.log.Error("leave the connection's previous meeting", "conn", prev.ID, "room", prev.Room, "err", err)
	}
}

// baseRole is the role a token carries: co-host is a room setting, kept in
// the state, so a demotion takes effect whatever token the person holds.
func baseRole(r events.Role) events.Role {
	if r == events.RoleHost {
		return r
	}
	return events.RoleParticipant
}

// joinCommand seats p on a node as of room seq (0 when unknown).
func joinCommand(code events.RoomCode, p events.Participant, seq uint64, ref events.ConnRef, id, gwID string) events.Command {
	return events.Command{Type: events.CmdJoin, Room: code, Participant: p.ID, Conn: ref,
		RequestID: id, GatewayRequestID: gwID, MutedSources: mutedSources(p), Seq: seq}
}

func mutedSources(p events.Participant) []events.Source {
	var out []events.Source
	if !p.MicOn {
		out = append(out, events.SourceMicrophone)
	}
	if !p.CamOn {
		out = append(out, events.SourceCamera)
	}
	if !p.ScreenOn {
		out = append(out, events.SourceScreen, events.SourceScreenAudio)
	}
	return out
}

// mediaMoved tells each connection that the room's media is now on another
// node under epoch: each client joins again with a new media session (its
// signaling stays up). Nothing is sent to the new node: the joins bring
// each participant there, with the session the client chose.
func (h *Handlers) mediaMoved(ctx context.Context, conns []state.Target, epoch uint64, reason string) {
	ev := &events.MediaReconnect{Reason: reason}
	ev.Epoch = epoch
	h.broadcast(ctx, conns, ev)
}

// knock puts a caller without a token in the lobby. A guest's id derives
// from the connection; a reload is a new guest id, so the deny cool-down
// also holds the caller's address (knockSource).
func (h *Handlers) knock(ctx context.Context, c *call, m *events.JoinRequest) error {
	g := events.Guest{ID: guestID(m.Code, m.Guest, c.connID()), Name: m.Name, KnockedAt: time.Now().UnixMilli()}
	res, err := h.d.State.Knock(ctx, m.Code, g, c.ref(), knockSource(c.req.RequestContext.Identity.SourceIP), h.d.Region)
	if err != nil {
		return err
	}
	prev := *c.conn
	if err := h.d.State.BindConn(ctx, c.connID(), m.Code, g.ID); err != nil {
		return err
	}
	c.conn.Room, c.conn.Participant = m.Code, g.ID
	h.log.Info("guest knocked", "room", m.Code, "guest", g.ID, "hosts", len(res.Mods))
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.LobbyWaiting{You: g, Code: m.Code, Title: res.Title, Moderators: len(res.Mods)}))
	if !res.Again {
		h.broadcastRefs(ctx, res.Mods, &events.Knock{Guest: g})
	}
	h.vacateOther(ctx, &prev, m.Code, g.ID)
	return nil
}

// knockSource is the address a deny's cool-down holds off besides the guest
// id: the client's IP as API Gateway saw it, an IPv6 client's /64 (a device
// rotates its addresses within it). Loopback is no source: on a local stack
// every browser is 127.0.0.1. Guests behind one NAT share the cool-down,
// 30 s at most, a fair price for a reload not skipping it.
func knockSource(sourceIP string) string {
	ip := net.ParseIP(sourceIP)
	switch {
	case ip == nil || ip.IsLoopback() || ip.IsUnspecified():
		return ""
	case ip.To4() != nil:
		return ip.To4().String()
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}

// guestID is a knocking guest's id: from the key their browser keeps for
// the meeting when they send one (so a denial and their lobby place hold
// across "try again" and reloads), else from their socket.
func guestID(code events.RoomCode, key string, conn events.ConnectionID) events.ParticipantID {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	seed := "guest:" + string(conn)
	if key != "" {
		seed = "guest:" + string(code) + ":" + key
	}
	sum := sha256.Sum256([]byte(seed))
	out := []byte("p_")
	for _, v := range sum[:12] {
		out = append(out, alnum[int(v)%len(alnum)])
	}
	return events.ParticipantID(out)
}

// lookup tells a pre-join page what the meeting is and how the asker would
// enter it, before anyone clicks.
func (h *Handlers) lookup(ctx context.Context, c *call) error {
	m := c.msg.(*events.LookupRequest)
	var pid events.ParticipantID
	you := "guest"
	if m.Token != "" {
		cl, err := h.d.Tokens.Verify(m.Token)
		if err == nil && cl.Room == m.Code && cl.Role != events.RoleGuest {
			pid, you = cl.Participant, string(baseRole(cl.Role))
		}
	}
	var gid events.ParticipantID
	if m.Guest != "" {
		gid = guestID(m.Code, m.Guest, c.connID())
	}
	l, err := h.d.State.Lookup(ctx, m.Code, pid, gid)
	if err != nil {
		return err
	}
	info := &events.MeetingInfo{Code: m.Code, Status: l.Status, Title: l.Title, Locked: l.Locked, People: l.People,
		Names: l.Names, Moderators: l.Moderators, RetryAfterMS: l.RetryAfter.Milliseconds(), Region: l.Region}
	switch {
	case l.Status != events.MeetingOpen:
		you = ""
	case l.Banned:
		you = "banned"
	case l.Role != "" && pid != "":
		you = string(l.Role)
	}
	info.You = you
	if info.Names == nil {
		info.Names = []string{}
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), info))
	return nil
}

func (h *Handlers) resync(ctx context.Context, c *call) error {
	if err := needJoined(c); err != nil {
		return err
	}
	room, err := h.d.State.Snapshot(ctx, c.room(), c.participant(), c.connID())
	if err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), events.WithSeq(room.Seq, &events.Snapshot{Room: room})))
	return nil
}

func (h *Handlers) leave(ctx context.Context, c *call) error {
	if c.conn.Room == "" {
		return refuse(events.CodeNotJoined, "not in a meeting")
	}
	if err := h.vacate(ctx, c.conn, events.ReasonLeft, c.id()); err != nil {
		return err
	}
	if err := h.d.State.BindConn(ctx, c.connID(), "", ""); err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Left{}))
	return nil
}

func (h *Handlers) ping(ctx context.Context, c *call) error {
	if err := h.d.State.Touch(ctx, c.connID(), c.room()); err != nil {
		return err
	}
	h.reply(ctx, c.ref(), events.Reply(c.id(), &events.Pong{ServerTime: time.Now().UnixMilli()}))
	return nil
}
