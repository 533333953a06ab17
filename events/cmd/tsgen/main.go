// Command tsgen writes the SPA's TypeScript protocol types from the Go types
// in package events, so the client never drifts from the server.
//
//	go run ./events/cmd/tsgen -o spa/src/client/protocol.ts
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
)

func main() {
	out := flag.String("o", "spa/src/client/protocol.ts", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, []byte(Generate()), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote", *out)
}
