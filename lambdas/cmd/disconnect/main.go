// Command disconnect is the "disconnect" Lambda function of the signaling plane.
package main

import "github.com/veet-dev/veet/lambdas"

func main() { lambdas.Main("disconnect") }
