// Package config reads the signaling plane's settings from the environment,
// fetching secrets from AWS Secrets Manager at cold start when only their ARN
// is given (so no secret sits in a Lambda's environment).
//
//	REDIS_URL              redis://[:password@]host:port[/db] (local runs)
//	REDIS_ADDR             host:port (ElastiCache), with
//	REDIS_TLS=1            in-transit encryption
//	REDIS_CLUSTER=1        cluster-mode endpoint
//	REDIS_PASSWORD         AUTH token, or
//	REDIS_AUTH_SECRET_ARN  a secret holding it
//	TOKEN_SECRET           HMAC key for meeting tokens (≥ 16 bytes), or
//	TOKEN_SECRET_ARN       a secret holding it: its AWSCURRENT version signs,
//	                       its AWSPENDING and AWSPREVIOUS versions, when they
//	                       exist, are accepted too (a rotation in progress:
//	                       docs/deploy.md, "Rotating the token key")
//	TOKEN_SECRET_PREVIOUS  another key to accept (not to sign with), or
//	TOKEN_SECRET_PREVIOUS_ARN a secret holding it
//	VEET_REGION            this deployment's region (default AWS_REGION)
//	VEET_CALLBACK_URL      `@connections` endpoint override (default: from the request)
package config

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/redis/go-redis/v9"
)

// Config is the signaling plane's configuration.
type Config struct {
	Region      string
	CallbackURL string
	// TokenSecret signs meeting tokens; TokenAccepted are keys whose tokens
	// are accepted too (being rotated in or out).
	TokenSecret   []byte
	TokenAccepted [][]byte
	Redis         redis.UniversalClient
	AWS           aws.Config
}

// Getenv reads a variable; tests swap it.
type Getenv func(string) string

// Load reads the environment, loads the AWS config and fetches secrets.
func Load(ctx context.Context) (*Config, error) { return load(ctx, os.Getenv, nil) }

// secretFetcher is Secrets Manager's GetSecretValue of one version stage
// ("" = AWSCURRENT), swappable in tests. A stage that no version holds
// answers errNoVersion.
type secretFetcher func(ctx context.Context, arn, stage string) (string, error)

var errNoVersion = errors.New("config: no version has that stage")

func load(ctx context.Context, env Getenv, fetch secretFetcher) (*Config, error) {
	c := &Config{Region: env("VEET_REGION"), CallbackURL: env("VEET_CALLBACK_URL")}
	if c.Region == "" {
		c.Region = env("AWS_REGION")
	}
	if c.Region == "" {
		return nil, errors.New("config: VEET_REGION (or AWS_REGION) is required")
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return nil, fmt.Errorf("config: aws: %w", err)
	}
	c.AWS = awsCfg
	if fetch == nil {
		sm := secretsmanager.NewFromConfig(awsCfg)
		fetch = func(ctx context.Context, arn, stage string) (string, error) {
			in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}
			if stage != "" {
				in.VersionStage = aws.String(stage)
			}
			out, err := sm.GetSecretValue(ctx, in)
			var nf *smtypes.ResourceNotFoundException
			if stage != "" && errors.As(err, &nf) {
				return "", errNoVersion
			}
			if err != nil {
				return "", err
			}
			return aws.ToString(out.SecretString), nil
		}
	}
	secret := func(plain, arnVar string) (string, error) {
		if v := env(plain); v != "" {
			return v, nil
		}
		arn := env(arnVar)
		if arn == "" {
			return "", nil
		}
		v, err := fetch(ctx, arn, "")
		if err != nil {
			return "", fmt.Errorf("config: %s: %w", arnVar, err)
		}
		return unwrapSecret(v), nil
	}

	tok, err := secret("TOKEN_SECRET", "TOKEN_SECRET_ARN")
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, errors.New("config: TOKEN_SECRET or TOKEN_SECRET_ARN is required")
	}
	c.TokenSecret = []byte(tok)
	if c.TokenAccepted, err = acceptedKeys(ctx, env, fetch, secret); err != nil {
		return nil, err
	}

	pw, err := secret("REDIS_PASSWORD", "REDIS_AUTH_SECRET_ARN")
	if err != nil {
		return nil, err
	}
	if c.Redis, err = redisClient(env, pw); err != nil {
		return nil, err
	}
	return c, nil
}

// acceptedKeys are the token keys accepted besides the signing one: the
// rotation stages of TOKEN_SECRET_ARN (fetched in parallel: they add to the
// cold start) and TOKEN_SECRET_PREVIOUS[_ARN].
func acceptedKeys(ctx context.Context, env Getenv, fetch secretFetcher, secret func(plain, arnVar string) (string, error)) ([][]byte, error) {
	var out [][]byte
	if arn := env("TOKEN_SECRET_ARN"); arn != "" && env("TOKEN_SECRET") == "" {
		stages := []string{"AWSPENDING", "AWSPREVIOUS"}
		vals := make([]string, len(stages))
		errs := make([]error, len(stages))
		var wg sync.WaitGroup
		for i, st := range stages {
			wg.Go(func() { vals[i], errs[i] = fetch(ctx, arn, st) })
		}
		wg.Wait()
		for i, st := range stages {
			switch {
			case errors.Is(errs[i], errNoVersion):
			case errs[i] != nil:
				return nil, fmt.Errorf("config: TOKEN_SECRET_ARN %s: %w", st, errs[i])
			default:
				out = append(out, []byte(unwrapSecret(vals[i])))
			}
		}
	}
	prev, err := secret("TOKEN_SECRET_PREVIOUS", "TOKEN_SECRET_PREVIOUS_ARN")
	if err != nil {
		return nil, err
	}
	if prev != "" {
		out = append(out, []byte(prev))
	}
	return out, nil
}

// unwrapSecret accepts a plain secret or a JSON one as CDK generates them
// ({"password": …}, {"token": …} or {"secret": …}).
func unwrapSecret(v string) string {
	var m map[string]any
	if strings.HasPrefix(strings.TrimSpace(v), "{") && json.Unmarshal([]byte(v), &m) == nil {
		for _, k := range []string{"password", "token", "secret", "authToken"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return v
}

// RedisFromEnv builds the Redis client alone (the SFU's main shares it).
func RedisFromEnv() (redis.UniversalClient, error) {
	return redisClient(os.Getenv, os.Getenv("REDIS_PASSWORD"))
}

// Redis timeouts: short, so that while Redis is unreachable a handler answers
// "unavailable" within about two seconds instead of holding the socket, and a
// node's heartbeat gives up before its next one is due. go-redis reconnects on
// the next command once Redis is back.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisPoolTimeout = 2 * time.Second
	redisRetries     = 1
)

// TuneRedis sets the timeouts every veet Redis client uses.
func TuneRedis(o *redis.Options) {
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout
	o.PoolTimeout, o.MaxRetries = redisPoolTimeout, redisRetries
}

func redisClient(env Getenv, password string) (redis.UniversalClient, error) {
	if u := env("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("config: REDIS_URL: %w", err)
		}
		if password != "" && opt.Password == "" {
			opt.Password = password
		}
		TuneRedis(opt)
		return redis.NewClient(opt), nil
	}
	addr := env("REDIS_ADDR")
	if addr == "" {
		return nil, errors.New("config: REDIS_URL or REDIS_ADDR is required")
	}
	opt := &redis.UniversalOptions{Addrs: []string{addr}, Password: password, IsClusterMode: env("REDIS_CLUSTER") == "1",
		DialTimeout: redisDialTimeout, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout,
		PoolTimeout: redisPoolTimeout, MaxRetries: redisRetries}
	if env("REDIS_TLS") == "1" {
		host, _, _ := strings.Cut(addr, ":")
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return redis.NewUniversalClient(opt), nil
}
