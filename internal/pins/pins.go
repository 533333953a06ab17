//go:build tools

// Package pins keeps the project's pinned module versions in go.mod while the
// packages that use them are being written (the Go proxy here serves pinned
// versions only, so dropping one by `go mod tidy` costs a round of `go get`).
package pins

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	_ "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	_ "github.com/gorilla/websocket"
	_ "github.com/pion/interceptor"
	_ "github.com/pion/rtcp"
	_ "github.com/pion/rtp"
	_ "github.com/pion/webrtc/v4"
	_ "github.com/redis/go-redis/v9"
)
