package ccl

import (
	"testing"

	"github.com/stele-go/stele/internal/testutil/benchcpu"
)

func BenchmarkParse5Rules(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(realisticPolicy)))
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if _, err := Parse(realisticPolicy); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

func BenchmarkParse5RulesReuse(b *testing.B) {
	var p Parser
	b.ReportAllocs()
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if _, err := p.Parse(realisticPolicy); err != nil {
			b.Fatal(err)
		}
	}
	done()
}

// BenchmarkCheck5Rules validates the policy of BenchmarkParse5Rules without
// building it.
func BenchmarkCheck5Rules(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(realisticPolicy)))
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		if n, err := Check(realisticPolicy); err != nil || n != 5 {
			b.Fatal(n, err)
		}
	}
	done()
}

// BenchmarkLex is the scanner alone: the part of Check that is not grammar.
func BenchmarkLex(b *testing.B) {
	toks := make([]token, 0, 256)
	b.SetBytes(int64(len(realisticPolicy)))
	done := benchcpu.PerOp(b, "op", 1)
	for b.Loop() {
		toks = lex(realisticPolicy, toks)
	}
	done()
}

// BenchmarkEvaluate decides with an empty context on the realistic policy:
// a permit, a more specific deny and a default deny in turn.
func BenchmarkEvaluate(b *testing.B) {
	doc := mustParse(b, realisticPolicy)
	inputs := [][2]string{{"file.read", "/data/reports/q1"}, {"file.read", "/data/secret/k"}, {"file.exec", "/bin/sh"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%len(inputs)]
		Evaluate(doc, in[0], in[1], nil)
		i++
	}
}

func BenchmarkEvaluateContext(b *testing.B) {
	doc := mustParse(b, realisticPolicy)
	ctx := obj(b, `{"user":{"role":"admin","name":"alice"},"amount":500,"tags":["prod"]}`)
	inputs := [][2]string{{"file.write", "/data/reports/q1"}, {"net.send", "/api/x"}, {"file.read", "/data/a"}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%len(inputs)]
		Evaluate(doc, in[0], in[1], ctx)
		i++
	}
}

func BenchmarkEvaluateMatches(b *testing.B) {
	doc := mustParse(b, "permit read on '/f/*' when name matches '^[a-z0-9_-]+\\.pdf$'")
	ctx := obj(b, `{"name":"quarterly_report-2024.pdf"}`)
	b.ReportAllocs()
	for b.Loop() {
		if !Evaluate(doc, "read", "/f/x", ctx).Permitted {
			b.Fatal("not permitted")
		}
	}
}
