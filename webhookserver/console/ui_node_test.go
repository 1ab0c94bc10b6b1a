package console

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runUIModule runs script as an ES module under Node.js beside the console's
// ui/js/<module>.js (importable as './<module>.mjs': the .mjs name makes Node.js read it as
// ES whatever package.json it finds around) and returns what it printed. The modules it
// is used for touch no DOM; without node the test is skipped.
func runUIModule(t *testing.T, module, script string) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: ui/js/%s.js not run", module)
	}
	src, err := uiFiles.ReadFile("ui/js/" + module + ".js")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, module+".mjs"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--input-type=module", "-e", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	return out
}
