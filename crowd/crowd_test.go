package crowd

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCrowd is `make bench`'s large meeting: 1,000 people joining one
// meeting at 25 a second, then 30 s of churn at 10 actions a second; and
// issue 11's 1 × 200 churn: 200 people, then 30 s at 20 actions a second.
// Each runs once whatever b.N; the table goes to docs/benchmarks.md.
func BenchmarkCrowd(b *testing.B) {
	scenarios := []Scenario{
		{Name: "1 × 1,000", People: 1000, JoinEvery: 40 * time.Millisecond, Churn: 30 * time.Second, ChurnEvery: 100 * time.Millisecond},
		{Name: "1 × 200 churn", People: 200, JoinEvery: 40 * time.Millisecond, Churn: 30 * time.Second, ChurnEvery: 50 * time.Millisecond},
	}
	var results []Result
	for _, sc := range scenarios {
		b.Run(sc.Name, func(b *testing.B) {
			st := Start(b)
			results = append(results, Run(b, st, sc))
		})
	}
	fmt.Printf("\nmake bench: large meetings, %s, load average at the start of each in the table\n\n%s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), Table(results...))
}
