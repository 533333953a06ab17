package localstack_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/veet-dev/veet/events"
	"github.com/veet-dev/veet/localstack"
)

// TestStackConnectionsAPI: the real aws-sdk-go-v2 management client posts
// to, reads and deletes a participant's connection through the stack's
// @connections endpoint; deleting it removes the participant from the
// meeting ($disconnect), and the connection is Gone afterwards.
func TestStackConnectionsAPI(t *testing.T) {
	s := startStack(t, localstack.Options{Nodes: 1})
	host, code := createMeeting(t, s, "host")
	ann := admitGuest(t, s, host, code, "ann")
	host.WaitFor(t, "participant_joined")
	connID := connOf(t, s, code, ann.id)

	api := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       "local",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(s.URL()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connID), Data: []byte(`{"type":"pong","id":"from-sdk","serverTime":1}`),
	}); err != nil {
		t.Fatalf("post: %v", err)
	}
	if e := ann.WaitFor(t, "pong"); e.ID != "from-sdk" {
		t.Errorf("ann got %s", e)
	}
	got, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(connID)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.ConnectedAt == nil || time.Since(*got.ConnectedAt) > time.Minute || got.Identity == nil || aws.ToString(got.Identity.SourceIp) != "127.0.0.1" {
		t.Errorf("get: connectedAt %v identity %+v", got.ConnectedAt, got.Identity)
	}
	if _, err := api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(connID)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	ann.WaitClosed(t)
	waitLeft(t, host, ann.id, events.ReasonDisconnected)

	var gone *types.GoneException
	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(connID), Data: []byte(`{}`)})
	if !errors.As(err, &gone) {
		t.Errorf("post after delete: %v, want GoneException", err)
	}
	if _, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(connID)}); !errors.As(err, &gone) {
		t.Errorf("get after delete: %v, want GoneException", err)
	}
}
