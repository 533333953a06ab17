// Command cdk is the veet AWS CDK app; cdk.json runs it (`npx aws-cdk
// deploy --all` from this directory). See docs/deploy.md.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/veet-dev/veet/cdk/infra"
	"github.com/veet-dev/veet/lambdas/routes"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	ctx := func(key string) (string, bool) {
		v := app.Node().TryGetContext(jsii.String(key))
		switch v := v.(type) {
		case nil:
			return "", false
		case []interface{}: // a list in cdk.json, e.g. "regions": [...]
			var parts []string
			for _, p := range v {
				parts = append(parts, fmt.Sprint(p))
			}
			return strings.Join(parts, ","), true
		default:
			return fmt.Sprint(v), true
		}
	}
	path, ok := ctx("config")
	if !ok {
		path = "veet.config.json"
	}
	cfg, err := infra.LoadConfig(path, ".", ctx)
	if err == nil {
		var names []string
		for _, f := range routes.Functions {
			names = append(names, f.Name)
		}
		err = infra.CheckAssets(cfg, names)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "veet cdk:", err)
		os.Exit(1)
	}
	infra.Build(app, cfg)
	app.Synth(nil)
}
