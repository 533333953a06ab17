// Package routes is the WebSocket API's route table: which route keys exist and
// which Lambda function serves each. It has no dependencies so that the CDK app
// (its own Go module) and the local gateway read the same table.
package routes

// Function is one deployed Lambda function; its main lives in lambdas/cmd/<Name>.
type Function struct {
	Name string
	// RouteKeys are the API Gateway route keys this function serves. Route
	// selection is `$request.body.action`, so a key is also a client action.
	RouteKeys []string
}

// Functions lists every Lambda of the signaling plane, in deployment order.
var Functions = []Function{
	{Name: "connect", RouteKeys: []string{"$connect"}},
	{Name: "disconnect", RouteKeys: []string{"$disconnect"}},
	{Name: "default", RouteKeys: []string{"$default"}},
	{Name: "create", RouteKeys: []string{"create"}},
	{Name: "join", RouteKeys: []string{"join", "resync", "lookup"}},
	{Name: "leave", RouteKeys: []string{"leave"}},
	{Name: "ping", RouteKeys: []string{"ping"}},
	{Name: "presence", RouteKeys: []string{"update", "chat", "chat_history", "react"}},
	{Name: "signal", RouteKeys: []string{"publish_offer", "subscribe_answer", "candidate", "video_sizes"}},
	{Name: "lobby", RouteKeys: []string{"admit", "admit_all", "deny"}},
	{Name: "moderate", RouteKeys: []string{"mute", "mute_all", "remove", "lock", "end", "set_role", "set_chat", "lower_hands"}},
	// sweep has no route: it runs on a schedule (EventBridge, every minute;
	// the local stack on a ticker) and moves rooms off SFU nodes that stopped
	// heartbeating.
	{Name: "sweep"},
}

// SelectionExpression is the API's route selection expression.
const SelectionExpression = "$request.body.action"

// FunctionFor returns the function serving routeKey, or "default" when no
// route matches (API Gateway's $default behaviour).
func FunctionFor(routeKey string) string {
	for _, f := range Functions {
		for _, k := range f.RouteKeys {
			if k == routeKey {
				return f.Name
			}
		}
	}
	return "default"
}
