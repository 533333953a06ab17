package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"time"
)

// ecsTaskID reads the task id from the ECS task metadata endpoint (v4);
// "" outside ECS or when it does not answer.
func ecsTaskID(ctx context.Context) string {
	uri := os.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	if uri == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri+"/task", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var meta struct {
		TaskARN string `json:"TaskARN"`
	}
	if json.NewDecoder(resp.Body).Decode(&meta) != nil || meta.TaskARN == "" {
		return ""
	}
	return meta.TaskARN[strings.LastIndex(meta.TaskARN, "/")+1:]
}
