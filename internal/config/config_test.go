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
	fetch := func(_ context.Context, arn string) (string, error) {
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
	if c.Region != "us-east-1" || string(c.TokenSecret) != "a-long-token-secret" || !fetched["arn:redis"] {
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
