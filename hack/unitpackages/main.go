// Command unitpackages prints the module's packages whose tests start no processes —
// no envtest control plane, PostgreSQL, real node, browser or other subprocess — one
// import path a line, for `make test-unit`:
//
//	go run ./hack/unitpackages [go list build flags, e.g. -tags=nodev]
//
// It decides from the import graph alone, so a new package is sorted without anyone
// listing it:
//
//   - a package is left out when its test binary depends on a harness that starts
//     processes (harnesses below), whether through its tests' imports or its own
//     (internal/testsuite/noisy's own code starts its stack);
//   - or when one of its test files imports os/exec (the test runs programs itself);
//   - or when it is one of the harnesses, or internal/postgres, whose own tests start
//     PostgreSQL. (Its other users reach it to connect to a database; its tests' users
//     go through internal/testrig/storetest, or import it from a test file, which counts.)
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/aias-dev/aias/"

// harnesses start processes when a test uses them.
var harnesses = map[string]bool{
	module + "internal/testrig/testenv":          true, // envtest control plane, PostgreSQL, node
	module + "internal/testrig/storetest":        true, // PostgreSQL
	module + "internal/testrig/realnode":         true, // a kind cluster
	module + "internal/testrig/browsertest":      true, // Chromium
	"sigs.k8s.io/controller-runtime/pkg/envtest": true, // etcd and kube-apiserver
	"github.com/chromedp/chromedp":               true, // Chromium
}

// startsFromTests are packages that start processes only when a test file imports them.
var startsFromTests = map[string]bool{
	module + "internal/postgres": true, // StartEphemeral
	"os/exec":                    true,
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	TestGoFiles  []string
	XTestGoFiles []string
	ForTest      string
	DepOnly      bool
}

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "unitpackages:", err)
		os.Exit(1)
	}
}

// run lists the packages; buildFlags (such as -tags=nodev) go to go list, and must be
// the ones go test gets.
func run(out io.Writer, buildFlags []string) error {
	// One go list: every package of the module with every dependency of its test binaries.
	args := append([]string{"list", "-e", "-deps", "-test",
		"-json=ImportPath,Imports,TestImports,XTestImports,TestGoFiles,XTestGoFiles,ForTest,DepOnly"}, buildFlags...)
	cmd := exec.Command("go", append(args, "./...")...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	imports := map[string][]string{} // the non-test import graph
	var own []pkg                    // the module's packages that have tests
	dec := json.NewDecoder(stdout)
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if p.ForTest != "" || strings.HasSuffix(p.ImportPath, ".test") {
			continue // a test variant: the plain package's fields say the same
		}
		imports[p.ImportPath] = p.Imports
		if !p.DepOnly && len(p.TestGoFiles)+len(p.XTestGoFiles) > 0 {
			own = append(own, p)
		}
	}
	if err := cmd.Wait(); err != nil {
		return err
	}

	var unit []string
	for _, p := range own {
		if startsProcesses(p, imports) {
			continue
		}
		unit = append(unit, p.ImportPath)
	}
	sort.Strings(unit)
	for _, u := range unit {
		fmt.Fprintln(out, u)
	}
	return nil
}

func startsProcesses(p pkg, imports map[string][]string) bool {
	if harnesses[p.ImportPath] || startsFromTests[p.ImportPath] {
		return true
	}
	testImports := append(append([]string{}, p.TestImports...), p.XTestImports...)
	for _, i := range testImports {
		if startsFromTests[i] {
			return true
		}
	}
	// Everything the test binary links, the package's own imports included.
	seen := map[string]bool{p.ImportPath: true}
	queue := append(append([]string{}, p.Imports...), testImports...)
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		if seen[i] {
			continue
		}
		seen[i] = true
		if harnesses[i] {
			return true
		}
		queue = append(queue, imports[i]...)
	}
	return false
}
