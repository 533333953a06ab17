// Command join is the "join" Lambda function of the signaling plane.
package main

import "github.com/veet-dev/veet/lambdas"

func main() { lambdas.Main("join") }
