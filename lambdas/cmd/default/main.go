// Command default is the "default" Lambda function of the signaling plane.
package main

import "github.com/veet-dev/veet/lambdas"

func main() { lambdas.Main("default") }
