// Command connect is the "connect" Lambda function of the signaling plane.
package main

import "github.com/veet-dev/veet/lambdas"

func main() { lambdas.Main("connect") }
