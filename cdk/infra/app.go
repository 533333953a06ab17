package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// Deployment is every stack of one configuration.
type Deployment struct {
	Config   Config
	Regions  []*RegionStack // Regions[0] is the primary
	Peerings []*PeeringRoutesStack
	Global   *GlobalStack
}

// Stacks lists every stack: the regions (primary first), the peering routes,
// the global stack.
func (d *Deployment) Stacks() []awscdk.Stack {
	var out []awscdk.Stack
	for _, r := range d.Regions {
		out = append(out, r.Stack)
	}
	for _, p := range d.Peerings {
		out = append(out, p.Stack)
	}
	return append(out, d.Global.Stack)
}

// Build adds veet's stacks to app and applies the cdk-nag AwsSolutions
// checks with this project's justified suppressions. Stacks:
//
//	veet-<region>             one per region (the first is the primary)
//	veet-peering-<secondary>  in the primary region, per secondary region
//	veet-global               in cfg.GlobalRegion
func Build(app awscdk.App, cfg Config) *Deployment {
	d := &Deployment{Config: cfg}
	var primary *RegionStack
	for i := range cfg.Regions {
		r := newRegionStack(app, cfg, i, primary)
		if primary == nil {
			primary = r
		}
		d.Regions = append(d.Regions, r)
	}
	for _, r := range d.Regions[1:] {
		d.Peerings = append(d.Peerings, newPeeringRoutesStack(app, cfg, primary, r))
	}
	d.Global = newGlobalStack(app, cfg, d.Regions)
	for _, s := range d.Stacks() {
		logProviderHandlers(s)
	}
	applyNag(app, d)
	return d
}
