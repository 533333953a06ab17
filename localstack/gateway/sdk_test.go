package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/veet-dev/veet/localstack/gateway"
	"github.com/veet-dev/veet/localstack/wsclient"
)

// sdkClient is the real management API client pointed at the gateway, as
// events/push builds it.
func sdkClient(endpoint string) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       "local",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

func TestGatewayConnectionsAPIWithAWSSDK(t *testing.T) {
	rec := newRecorder()
	_, base := start(t, rec, gateway.Options{})
	c := wsclient.Dial(t, wsURL(base), wsclient.Options{Header: map[string][]string{"User-Agent": {"sdk-test"}}})
	id := rec.waitCalls(t, "$connect", hasRoute("$connect", 1))[0].req.RequestContext.ConnectionID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for name, endpoint := range map[string]string{"root": base, "stage": base + "/local"} {
		api := sdkClient(endpoint)
		msg := `{"type":"pong","id":"` + name + `"}`
		if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(msg)}); err != nil {
			t.Fatalf("%s: post: %v", name, err)
		}
		if e := c.WaitFor(t, "pong"); e.ID != name {
			t.Errorf("%s: client got %s", name, e)
		}
	}
	api := sdkClient(base)

	// A 100 KB post reaches the client whole (the gateway splits it into 32 KB frames).
	big := `{"type":"big","pad":"` + strings.Repeat("y", 100*1024) + `"}`
	if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(big)}); err != nil {
		t.Fatalf("post 100 KB: %v", err)
	}
	if e := c.WaitFor(t, "big"); len(e.Raw) != len(big) {
		t.Errorf("100 KB post arrived with %d bytes", len(e.Raw))
	}
	_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: make([]byte, 129*1024)})
	var tooBig *types.PayloadTooLargeException
	if !errors.As(err, &tooBig) {
		t.Errorf("post 129 KB: %v, want PayloadTooLargeException", err)
	}

	before := time.Now()
	got, err := api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.ConnectedAt == nil || got.ConnectedAt.After(before) || time.Since(*got.ConnectedAt) > time.Minute {
		t.Errorf("connectedAt %v", got.ConnectedAt)
	}
	if got.LastActiveAt == nil || got.LastActiveAt.Before(*got.ConnectedAt) {
		t.Errorf("lastActiveAt %v", got.LastActiveAt)
	}
	if got.Identity == nil || aws.ToString(got.Identity.SourceIp) != "127.0.0.1" || aws.ToString(got.Identity.UserAgent) != "sdk-test" {
		t.Errorf("identity %+v", got.Identity)
	}

	if _, err := api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if code := c.WaitClosed(t); code != gateway.CloseNormal {
		t.Errorf("close code after delete: %d", code)
	}
	rec.waitCalls(t, "$disconnect", hasRoute("$disconnect", 1))

	var gone *types.GoneException
	_, err = api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("{}")})
	if !errors.As(err, &gone) {
		t.Errorf("post after delete: %v, want GoneException", err)
	}
	_, err = api.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if !errors.As(err, &gone) {
		t.Errorf("get after delete: %v, want GoneException", err)
	}
	_, err = api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String("NoSuchConnId0A=")})
	if !errors.As(err, &gone) {
		t.Errorf("delete unknown: %v, want GoneException", err)
	}
}
