package infra_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
)

// TestNoUnsuppressedNagFindings fails on any cdk-nag AwsSolutions error or
// warning left in any stack: each accepted finding must carry a written
// NagSuppressions reason (see nag.go).
func TestNoUnsuppressedNagFindings(t *testing.T) {
	for _, f := range []*fixture{synth(t), synthPlain(t)} {
		for _, s := range f.stacks() {
			art := f.assembly.GetStackArtifact(s.ArtifactId())
			for _, m := range *art.Messages() {
				if m.Level != cxapi.SynthesisMessageLevel_ERROR && m.Level != cxapi.SynthesisMessageLevel_WARNING {
					continue
				}
				data := fmt.Sprint(m.Entry.Data)
				if strings.Contains(data, "AwsSolutions-") {
					t.Errorf("%s: %s", *m.Id, firstLine(data))
				}
			}
		}
	}
}

// TestNoSynthesisErrors: no other construct reported an error or a warning
// either (a warning is how CDK says a setting is ignored).
func TestNoSynthesisErrors(t *testing.T) {
	for _, f := range []*fixture{synth(t), synthPlain(t)} {
		for _, s := range f.stacks() {
			for _, m := range *f.assembly.GetStackArtifact(s.ArtifactId()).Messages() {
				data := fmt.Sprint(m.Entry.Data)
				if m.Level == cxapi.SynthesisMessageLevel_ERROR && !strings.Contains(data, "AwsSolutions-") {
					t.Errorf("%s: %s", *m.Id, firstLine(data))
				}
				if m.Level == cxapi.SynthesisMessageLevel_WARNING && !strings.Contains(data, "AwsSolutions-") {
					t.Errorf("warning %s: %s", *m.Id, firstLine(data))
				}
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
