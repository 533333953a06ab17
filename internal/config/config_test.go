package config

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

func envOf(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadFromPlainEnv(t *testing.T) {
	c, err := load(context.Background(), envOf(map[string]string{
		"AWS_REGION": "eu-west-1", "TOKEN_SECRET": "0123456789abcdef", "REDIS_URL": "redis://127.0.0.1:6399/2",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-west-1" || string(c.TokenSecret) != "0123456789abcdef" {
		t.Fatalf("%+v", c)
	}
	if o := c.Redis.(*redis.Client).Options(); o.Addr != "127.0.0.1:6399" || o.DB != 2 {
		t.Fatalf("redis options %+v", o)
	}
}

func TestLoadFetchesSecretsByARN(t *testing.T) {
	fetched := map[string]bool{}
	fetch := func(_ context.Context, arn, stage string) (string, error) {
		if stage != "" {
			return "", errNoVersion // no rotation under way
		}
		fetched[arn] = true
		switch arn {
		case "arn:tok":
			return `{"secret":"a-long-token-secret"}`, nil
		case "arn:redis":
			return "redis-auth", nil
		}
		return "", errors.New("no such secret")
	}
	c, err := load(context.Background(), envOf(map[string]string{
		"VEET_REGION": "us-east-1", "AWS_REGION": "eu-west-1", "TOKEN_SECRET_ARN": "arn:tok",
		"REDIS_ADDR": "cache.example:6379", "REDIS_TLS": "1", "REDIS_AUTH_SECRET_ARN": "arn:redis",
	}), fetch)
	if err != nil {
		t.Fatal(err)
	}
	if c.Region != "us-east-1" || string(c.TokenSecret) != "a-long-token-secret" || len(c.TokenAccepted) != 0 || !fetched["arn:redis"] {
		t.Fatalf("%+v %v", c, fetched)
	}
	o := c.Redis.(*redis.Client).Options()
	if o.Password != "redis-auth" || o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" {
		t.Fatalf("redis options %+v", o)
	}
	if _, err := load(context.Background(), envOf(map[string]string{"VEET_REGION": "x", "TOKEN_SECRET_ARN": "arn:missing", "REDIS_ADDR": "a:1"}), fetch); err == nil {
		t.Fatal("a missing secret was not an error")
	}
	if _, err := load(context.Background(), envOf(map[string]string{"VEET_REGION": "x", "TOKEN_SECRET": "0123456789abcdef"}), fetch); err == nil {
		t.Fatal("no redis config was not an error")
	}
}

// TestLoadTokenKeysDuringARotation: the secret's AWSCURRENT version signs;
// AWSPENDING (being rotated in) and AWSPREVIOUS (being rotated out) are
// accepted; TOKEN_SECRET_PREVIOUS adds one more. A stage no version has is
// no key; any other failure stops the cold start.
func TestLoadTokenKeysDuringARotation(t *testing.T) {
	versions := map[string]string{"": "current-key-0123456", "AWSPENDING": `{"secret":"pending-key-0123456"}`, "AWSPREVIOUS": "previous-key-012345"}
	fetch := func(_ context.Context, arn, stage string) (string, error) {
		if arn != "arn:tok" {
			return "other-secret", nil
		}
		v, ok := versions[stage]
		if !ok {
			return "", errNoVersion
		}
		return v, nil
	}
	env := map[string]string{"VEET_REGION": "x", "TOKEN_SECRET_ARN": "arn:tok", "REDIS_ADDR": "a:1"}
	c, err := load(context.Background(), envOf(env), fetch)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range c.TokenAccepted {
		got = append(got, string(k))
	}
	if string(c.TokenSecret) != "current-key-0123456" || len(got) != 2 || got[0] != "pending-key-0123456" || got[1] != "previous-key-012345" {
		t.Fatalf("signing %q, accepted %q", c.TokenSecret, got)
	}
	delete(versions, "AWSPENDING")
	env["TOKEN_SECRET_PREVIOUS"] = "plain-previous-0123"
	c, err = load(context.Background(), envOf(env), fetch)
	if err != nil || len(c.TokenAccepted) != 2 || string(c.TokenAccepted[1]) != "plain-previous-0123" {
		t.Fatalf("%q %v", c.TokenAccepted, err)
	}
	broken := func(ctx context.Context, arn, stage string) (string, error) {
		if stage == "AWSPREVIOUS" {
			return "", errors.New("throttled")
		}
		return fetch(ctx, arn, stage)
	}
	if _, err := load(context.Background(), envOf(env), broken); err == nil {
		t.Fatal("a failed fetch of a rotation stage was ignored")
	}
}
