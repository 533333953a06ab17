package lambdas

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"github.com/veet-dev/veet/events"
)

// The handlers' figures reach CloudWatch as metrics without an agent: every
// client message a function handles ends in one log line in CloudWatch's
// embedded metric format (EMF) on stdout; Lambda ships it to the
// function's log group and CloudWatch Logs turns it into metrics. One line
// per message, not an aggregate: a Lambda environment can be frozen or
// dropped after any invocation, and a figure kept for later would be lost.
//
// Namespace veet/signaling:
//   - Requests (Count) and Latency (Milliseconds), by Action and in total;
//     an action outside the protocol counts as "unknown", so a client
//     cannot mint metrics;
//   - Errors (Count) by Code and in total, for every refused message.
//
// The deployment (cdk/infra) graphs and alarms on these names; they are a
// contract kept in testdata/emf.golden.json, which the CDK tests read.
const (
	signalingNamespace = "veet/signaling"
	metricRequests     = "Requests"
	metricLatency      = "Latency"
	metricErrors       = "Errors"
	unknownAction      = "unknown"
)

// metricsOut receives the lines: stdout inside Lambda, nowhere elsewhere
// (the local stack runs these handlers in-process and has no CloudWatch).
var (
	metricsMu  sync.Mutex
	metricsOut io.Writer
)

func init() {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		metricsOut = os.Stdout
	}
}

// invocation is one client message being measured: message() starts it
// (measure), notes the code of a refusal, and records it.
type invocation struct {
	start  time.Time
	action events.Action
	code   events.Code
	gwID   string
}

func (h *Handlers) measure(act events.Action, gatewayRequestID string) *invocation {
	if _, known := h.actions[act]; !known {
		act = unknownAction
	}
	return &invocation{start: time.Now(), action: act, gwID: gatewayRequestID}
}

// named sets the invocation's action once the message is decoded (an action
// outside the protocol stays "unknown").
func (inv *invocation) named(h *Handlers, act events.Action) *invocation {
	if _, known := h.actions[act]; known {
		inv.action = act
	}
	return inv
}

// record writes the invocation's line.
func (h *Handlers) record(inv *invocation) {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if metricsOut == nil {
		return
	}
	if _, err := metricsOut.Write(inv.line(time.Now())); err != nil {
		h.log.Warn("metrics line not written", "err", err)
	}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

func (inv *invocation) line(now time.Time) []byte {
	directives := []emfDirective{{
		Namespace: signalingNamespace, Dimensions: [][]string{{"Action"}, {}},
		Metrics: []emfMetric{{metricRequests, "Count"}, {metricLatency, "Milliseconds"}},
	}}
	doc := map[string]any{
		"Action":       string(inv.action),
		"RequestId":    inv.gwID,
		metricRequests: 1,
		metricLatency:  float64(now.Sub(inv.start).Microseconds()) / 1000,
	}
	if inv.code != "" {
		directives = append(directives, emfDirective{
			Namespace: signalingNamespace, Dimensions: [][]string{{"Code"}, {}},
			Metrics: []emfMetric{{metricErrors, "Count"}},
		})
		doc["Code"] = string(inv.code)
		doc[metricErrors] = 1
	}
	doc["_aws"] = map[string]any{"Timestamp": now.UnixMilli(), "CloudWatchMetrics": directives}
	b, _ := json.Marshal(doc) // plain values: cannot fail
	return append(b, '\n')
}
