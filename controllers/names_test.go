package controllers

import (
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// The join of Run `a-b` step `c` and of Run `a` step `b-c` is the same; their Jobs must
// not be.
func TestJobNamesOfAmbiguousJoinsDiffer(t *testing.T) {
	a, b := jobName("a-b", "c", 1), jobName("a", "b-c", 1)
	if a == b {
		t.Fatalf("Run a-b step c and Run a step b-c both get Job %q", a)
	}
	if a != "a-b-c-1" {
		t.Errorf("Run a-b step c: Job %q, want the readable a-b-c-1", a)
	}
	if !strings.HasPrefix(b, "a-b-c-1-") {
		t.Errorf("Run a step b-c: Job %q, want a-b-c-1-<hash>", b)
	}
	if got := jobName("release-notes-7f3a9", "build", 2); got != "release-notes-7f3a9-build-2" {
		t.Errorf("a dashed Run name with a plain step: %q, want it as it reads", got)
	}
}

type jobKey struct {
	run, step string
	attempt   int32
}

// dnsLabel is a random DNS label of n characters from a small alphabet, so that joins
// collide often.
func dnsLabel(r *mathrand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		if i == 0 || i == n-1 {
			b[i] = "ab1"[r.IntN(3)]
		} else {
			b[i] = "ab1-"[r.IntN(4)]
		}
	}
	return string(b)
}

// dnsSubdomain is a random DNS subdomain of about n characters: labels joined by '.'.
func dnsSubdomain(r *mathrand.Rand, n int) string {
	var labels []string
	for n > 0 {
		l := 1 + r.IntN(min(n, 20))
		labels = append(labels, dnsLabel(r, l))
		n -= l + 1
	}
	return strings.Join(labels, ".")
}

// Over many tuples, short and long, with and without dashes: no two tuples share a Job
// name, every name is a valid object name and label value of at most 63 characters, the
// same tuple always gets the same name, and token Secret names are distinct per Run.
func TestChildNamesAreInjective(t *testing.T) {
	r := mathrand.New(mathrand.NewPCG(1, 2))
	seen := map[string]jobKey{}
	tokens := map[string]string{}
	check := func(k jobKey) {
		name := jobName(k.run, k.step, k.attempt)
		if prev, ok := seen[name]; ok && prev != k {
			t.Fatalf("Job %q for both %+v and %+v", name, prev, k)
		}
		seen[name] = k
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Fatalf("Job %q of %+v: %v", name, k, errs)
		}
		if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
			t.Fatalf("Job %q of %+v is no label value: %v", name, k, errs)
		}
		if again := jobName(k.run, k.step, k.attempt); again != name {
			t.Fatalf("%+v named %q, then %q", k, name, again)
		}
		if !strings.Contains(k.step, "-") && len(k.run)+len(k.step)+len(fmt.Sprint(k.attempt))+2 <= 63 && name != fmt.Sprintf("%s-%s-%d", k.run, k.step, k.attempt) {
			t.Fatalf("%+v named %q, want it readable", k, name)
		}
		tok := tokenSecretName(k.run)
		if prev, ok := tokens[tok]; ok && prev != k.run {
			t.Fatalf("token Secret %q for Runs %q and %q", tok, prev, k.run)
		}
		tokens[tok] = k.run
		if errs := validation.IsDNS1123Subdomain(tok); len(errs) > 0 || len(tok) > 63 {
			t.Fatalf("token Secret %q of Run %q: %v", tok, k.run, errs)
		}
	}
	// Every short tuple over a tiny alphabet: the joins collide all the time.
	var short []string
	for n := 1; n <= 4; n++ {
		for i := range 1 << (2 * n) {
			b := make([]byte, n)
			for j := range b {
				b[j] = "a1-b"[(i>>(2*j))&3]
			}
			if s := string(b); s[0] != '-' && s[n-1] != '-' {
				short = append(short, s)
			}
		}
	}
	for _, run := range short {
		for _, step := range short {
			for _, attempt := range []int32{1, 2, 11} {
				check(jobKey{run, step, attempt})
			}
		}
	}
	// Random ones up to the longest names the API allows (a Run name has 253 characters,
	// a step name 63), so most are cut and hashed.
	for range 200000 {
		run := dnsLabel(r, 1+r.IntN(80))
		switch r.IntN(10) {
		case 0:
			run = dnsSubdomain(r, 200+r.IntN(54))
		case 1:
			run = dnsSubdomain(r, 1+r.IntN(60))
		}
		step := dnsLabel(r, 1+r.IntN(63))
		attempt := int32(1 + r.IntN(12))
		if r.IntN(50) == 0 {
			attempt = 2147483647
		}
		check(jobKey{run, step, attempt})
	}
	// A long Run name's attempts and runs that share a long prefix stay apart.
	long := strings.Repeat("r", 60)
	for i := range 100 {
		check(jobKey{long, "build", int32(i + 1)})
		check(jobKey{long + fmt.Sprint(i), "build", 1})
	}
}
