package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/veet-dev/veet/events"
)

// The node's figures reach CloudWatch as metrics without an agent: every
// SFU_METRICS_INTERVAL the node writes one line in CloudWatch's embedded
// metric format (EMF) to stdout, the awslogs driver ships it to the node's
// log group, and CloudWatch Logs turns its members into metrics. The
// deployment (cdk/infra) alarms and scales on these names; they are a
// contract, kept in testdata/emf.golden.json, which the CDK tests read.
//
// One dimension, Region: every node writes the same metrics, so Average is
// the per-node mean (what target tracking needs), Maximum the hottest node
// and Sum the region's total. The node id goes along as a plain member,
// searchable in Logs Insights without a metric per task.
const (
	sfuNamespace = "veet/sfu"

	metricRooms        = "Rooms"
	metricParticipants = "Participants"
	metricTracks       = "Tracks"
	metricBitrate      = "ForwardedBitrate" // bit/s forwarded to all subscribers
	metricCPU          = "CPUUtilization"   // percent of the task's CPUs
	metricCommandLag   = "CommandLag"       // ms, longest wait of a command since the last line
	metricServing      = "Serving"          // 1 serving, 0 draining
)

// nodeFigures is what the publisher reads from the node (an *sfu.Node).
type nodeFigures interface {
	Info() events.NodeInfo
	TakeCommandLag() int64
}

// emfMetric is one entry of an EMF directive.
type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

var sfuMetrics = []emfMetric{
	{metricRooms, "Count"}, {metricParticipants, "Count"}, {metricTracks, "Count"},
	{metricBitrate, "Bits/Second"}, {metricCPU, "Percent"},
	{metricCommandLag, "Milliseconds"}, {metricServing, "Count"},
}

// emfLine is one sample of the node as an EMF log line.
func emfLine(info events.NodeInfo, at time.Time) []byte {
	l := info.Load
	serving := 0
	if info.State == events.NodeServing {
		serving = 1
	}
	doc := map[string]any{
		"_aws": emfMeta{Timestamp: at.UnixMilli(), CloudWatchMetrics: []emfDirective{{
			Namespace: sfuNamespace, Dimensions: [][]string{{"Region"}}, Metrics: sfuMetrics,
		}}},
		"Region":           info.Region,
		"Node":             string(info.ID),
		"State":            string(info.State),
		metricRooms:        l.Rooms,
		metricParticipants: l.Participants,
		metricTracks:       l.Tracks,
		metricBitrate:      l.BitrateBps,
		metricCPU:          l.CPU * 100,
		metricCommandLag:   l.CommandLagMs,
		metricServing:      serving,
	}
	b, _ := json.Marshal(doc) // plain values: cannot fail
	return append(b, '\n')
}

// sample reads the node; the command lag is the longest since the last
// sample, so a stall between two lines is never missed.
func sample(node nodeFigures) events.NodeInfo {
	info := node.Info()
	info.Load.CommandLagMs = max(info.Load.CommandLagMs, node.TakeCommandLag())
	return info
}

// publishMetrics writes a sample every interval until ctx ends. A failed
// write is logged once per failure streak: metrics must not stop the node.
func publishMetrics(ctx context.Context, node nodeFigures, w io.Writer, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			_, err := w.Write(emfLine(sample(node), now))
			if err != nil && !failing {
				log.Warn("metrics line not written", "err", err)
			}
			failing = err != nil
		}
	}
}
