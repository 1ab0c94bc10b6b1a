package nodeagent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// defaultPATH is what container runtimes give a container whose image sets no PATH;
// it is used only to find command[0] when the container's env has no PATH.
const defaultPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// local maps a container path to this machine: a path that is a mountPath, or lies
// under one, moves to the volume's directory; the longest mountPath wins, as a nested
// mount shadows its parent. Paths merely containing a mountPath (such as
// "--out=/aias/work" or a PATH list) are left alone: only whole paths are rewritten.
func (c *containerPlan) local(path string) string {
	for _, m := range c.mounts {
		if path == m.path {
			return m.local
		}
		if strings.HasPrefix(path, m.path+"/") {
			return m.local + path[len(m.path):]
		}
	}
	return path
}

// rootfs stands in for the container image's filesystem: its working directory unless
// workingDir says otherwise.
func (p *podPlan) rootfs(c *containerPlan) string { return filepath.Join(p.dir, "rootfs", c.Name) }

// logFile is where the container's stdout or stderr goes.
func (p *podPlan) logFile(c *containerPlan, stream string) string {
	return filepath.Join(p.dir, "logs", c.Name+"."+stream)
}

// processSpec turns a container and its resolved env into what to execute here:
// $(VAR) expanded in command and args, command[0] replaced by its Binaries entry or
// looked up in the container's PATH, and every path rewritten to this machine.
func (a *Agent) processSpec(p *podPlan, c *containerPlan, env map[string]string) (procSpec, error) {
	ps := procSpec{
		dir:    p.rootfs(c),
		stdout: p.logFile(c, "stdout"),
		stderr: p.logFile(c, "stderr"),
		user:   c.user,
	}
	if c.WorkingDir != "" {
		ps.dir = c.local(c.WorkingDir)
	}
	for _, s := range slices.Concat(c.Command, c.Args) {
		ps.args = append(ps.args, c.local(expand(s, env)))
	}
	if bin, ok := a.binaries[expand(c.Command[0], env)]; ok {
		ps.args[0] = bin
	}
	path, err := c.lookPath(ps.args[0], env["PATH"], ps.dir)
	if err != nil {
		return ps, err
	}
	ps.path = path

	for _, kv := range a.ExtraEnv {
		// The agent's HOME is no use to another user: the container's rootfs stands in.
		if c.user != nil && strings.HasPrefix(kv, "HOME=") {
			kv = "HOME=" + p.rootfs(c)
		}
		ps.env = append(ps.env, kv)
	}
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ps.env = append(ps.env, name+"="+c.local(env[name]))
	}
	return ps, nil
}

// lookPath finds a command the way a container runtime does: a name with a slash is a
// path (relative ones from the working directory), a bare name is searched in the
// container's PATH, whose entries may themselves be mount paths.
func (c *containerPlan) lookPath(name, pathEnv, dir string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return name, nil
	}
	if pathEnv == "" {
		pathEnv = defaultPATH
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			continue
		}
		candidate := filepath.Join(c.local(d), name)
		if fi, err := os.Stat(candidate); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("executable file %q not found in $PATH", name)
}
