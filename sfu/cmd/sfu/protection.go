package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/veet-dev/veet/events"
)

// Scale-in protection: while a node hosts rooms, ECS must not pick its task
// when the service scales in or a deployment replaces tasks, because every
// stopped node moves its meetings (clients reconnect their media). The node
// asks the ECS agent for task scale-in protection when it takes its first
// room and releases it when it is empty again or draining.
//
// A protection lasts at most SFU_SCALE_IN_PROTECTION (60 min by default)
// and is not renewed while the node stays busy: a node that never empties
// would otherwise block deployments and scale-in forever (a deployment waits
// for its old tasks, and CloudFormation waits for the deployment). Once
// that hold has run out the node is protected again only after it has been
// empty. New rooms go to the least-loaded node, so during a deployment they
// land on the new tasks and the old ones empty as their meetings end.
const (
	protectionPath  = "/task-protection/v1/state"
	protectionCheck = 10 * time.Second
	defaultHold     = 60 * time.Minute
)

// protector keeps the task's protection in step with the node's rooms.
type protector struct {
	url    string // $ECS_AGENT_URI + protectionPath
	hold   time.Duration
	client *http.Client
	log    *slog.Logger

	on      bool
	until   time.Time // when ECS clears the current protection by itself
	spent   bool      // the hold ran out while busy: wait until the node empties
	failing bool      // the agent refused the last change (logged once)
}

func newProtector(agentURI string, hold time.Duration, log *slog.Logger) *protector {
	return &protector{url: agentURI + protectionPath, hold: hold, client: &http.Client{Timeout: 10 * time.Second}, log: log}
}

// update applies what the node's state asks for at now.
func (p *protector) update(ctx context.Context, info events.NodeInfo, now time.Time) {
	busy := info.State == events.NodeServing && info.Load.Rooms > 0
	if p.on && !now.Before(p.until) {
		p.on, p.spent = false, busy
		p.log.Info("scale-in protection expired", "rooms", info.Load.Rooms)
	}
	if !busy {
		p.spent = false
	}
	switch {
	case busy && !p.on && !p.spent:
		if p.set(ctx, true) {
			p.on, p.until = true, now.Add(p.hold)
			p.log.Info("scale-in protection on", "rooms", info.Load.Rooms, "for", p.hold.String())
		}
	case !busy && p.on:
		if p.set(ctx, false) {
			p.on = false
			p.log.Info("scale-in protection off", "state", info.State, "rooms", info.Load.Rooms)
		}
	}
}

// set asks the agent for the protection; false when it was not applied (the
// next check tries again).
func (p *protector) set(ctx context.Context, enabled bool) bool {
	err := p.put(ctx, enabled)
	switch {
	case err != nil && !p.failing:
		p.log.Warn("scale-in protection not changed", "enabled", enabled, "err", err)
	case err == nil && p.failing:
		p.log.Info("scale-in protection reachable again")
	}
	p.failing = err != nil
	return err == nil
}

func (p *protector) put(ctx context.Context, enabled bool) error {
	body := map[string]any{"ProtectionEnabled": enabled}
	if enabled {
		body["ExpiresInMinutes"] = min(max(int((p.hold+time.Minute-1)/time.Minute), 1), 2880)
	}
	data, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, p.url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	// The agent answers {"protection": {...}}, or {"failure": {...}} /
	// {"error": {...}} when ECS refused or could not be reached.
	var out struct {
		Protection *struct{ ProtectionEnabled bool }
		Failure    *struct{ Reason, Detail string }
		Error      *struct{ Code, Message string }
	}
	jerr := json.Unmarshal(raw, &out)
	switch {
	case out.Error != nil:
		return fmt.Errorf("ECS agent: %s: %s", out.Error.Code, out.Error.Message)
	case out.Failure != nil:
		return fmt.Errorf("ECS agent: failure %s %s", out.Failure.Reason, out.Failure.Detail)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("ECS agent: %s: %.200s", resp.Status, raw)
	case jerr != nil || out.Protection == nil:
		return fmt.Errorf("ECS agent: unreadable answer %.200q", raw)
	case out.Protection.ProtectionEnabled != enabled:
		return fmt.Errorf("ECS agent: protection is %v, asked for %v", out.Protection.ProtectionEnabled, enabled)
	}
	return nil
}

// protect checks the node every `every` until ctx ends (SIGTERM: the task
// is being stopped anyway), then releases a protection still held.
func (p *protector) protect(ctx context.Context, node interface{ Info() events.NodeInfo }, every time.Duration) {
	// A request outlives the stop signal (put bounds it): had SIGTERM cut off
	// a protection the agent had already applied, p.on would stay false and
	// the task would keep it until the hold ran out.
	reqs := context.WithoutCancel(ctx)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if p.on {
				rctx, cancel := context.WithTimeout(reqs, 5*time.Second)
				if p.set(rctx, false) {
					p.on = false
					p.log.Info("scale-in protection off", "state", "stopping")
				}
				cancel()
			}
			return
		case now := <-tick.C:
			p.update(reqs, node.Info(), now)
		}
	}
}
