package jobs_test

import (
	"testing"

	"github.com/stele-go/stele/internal/jobs"
	"github.com/stele-go/stele/internal/store"
)

// A chain job whose parent travels in a later chunk than its child: the
// child's verdict must not depend on where the job was cut into chunks.
func TestVerifyJobChainAcrossChunks(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			p := newPipelineWith(t, sk.open(t), jobs.ConsumerConfig{}, jobs.WithChunkItems(1))
			p.startRunner(t, nil, nil, jobs.RunnerConfig{Concurrency: 1})
			three := chainOfThree(t)
			// Children first, each in its own chunk, parents after.
			p.submit(t, jobs.Job{ID: "split", Kind: store.KindVerify, Chain: true}, inlineItems(three[2], three[1], three[0]))
			job := p.waitJob(t, "split")
			res := p.results(t, "split")
			if failed, _ := failedChecks(res[0]); res[0].Valid || len(failed) != 1 || failed[0] != "chain_narrowing" {
				t.Errorf("broadening grandchild: %+v; want invalid by chain_narrowing alone", res[0])
			}
			for i := 1; i < 3; i++ {
				if failed, n := failedChecks(res[i]); !res[i].Valid || n != 11 || failed != nil {
					t.Errorf("item %d: valid %v, %d checks, failed %v; want valid with 11", i, res[i].Valid, n, failed)
				}
			}
			if job.Done != 3 || job.Valid != 2 || job.Invalid != 1 {
				t.Errorf("job %+v; want 2 valid, 1 invalid", job)
			}
		})
	}
}
