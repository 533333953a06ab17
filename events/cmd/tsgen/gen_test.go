package main

import (
	"os"
	"strings"
	"testing"
)

// TestGeneratedFileIsFresh fails when spa/src/client/protocol.ts no longer
// matches the Go protocol types: run `make generate` and commit the result.
func TestGeneratedFileIsFresh(t *testing.T) {
	const path = "../../../spa/src/client/protocol.ts"
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run `make generate`)", path, err)
	}
	if want := Generate(); string(have) != want {
		t.Fatalf("%s is stale: run `make generate` and commit it", path)
	}
}

func TestGenerateCoversProtocol(t *testing.T) {
	out := Generate()
	for _, want := range []string{
		`export interface JoinRequest {`,
		`  action: "join";`,
		`export interface Joined {`,
		`  type: "joined";`,
		`export type Role = "host" | "cohost" | "participant" | "guest";`,
		`  micOn?: boolean;`,
		`export type RoomCode = string;`,
		`  participants: Participant[];`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("generated TypeScript lacks %q", want)
		}
	}
}
