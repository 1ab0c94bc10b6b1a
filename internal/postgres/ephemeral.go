// Package postgres finds or starts the PostgreSQL that tests and `aias dev` use, and hands
// out isolated databases on it.
//
// Order of preference: AIAS_DATABASE_URL; else a server already listening on
// 127.0.0.1:5432; else an ephemeral server started from the local PostgreSQL binaries
// (installing Debian's postgresql package when there are none).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Ephemeral is a throwaway PostgreSQL server in a temporary directory.
type Ephemeral struct {
	dir   string
	bin   string
	runAs *syscall.Credential // nil unless we are root and must drop to the postgres user
	Port  int
	logf  func(string, ...any)
	// halted: Halt stopped the server and Resume has not started it again.
	halted bool
}

// URL is the admin connection string of the ephemeral server.
func (e *Ephemeral) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", e.Port)
}

// StartEphemeral runs initdb in a new temporary directory and starts a server on a free
// loopback port. PostgreSQL refuses to run as root, so under root it runs as the
// `postgres` system user (created by the Debian package).
func StartEphemeral(ctx context.Context, logf func(string, ...any)) (*Ephemeral, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	bin, err := binDir(ctx, logf)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "aias-pg-")
	if err != nil {
		return nil, err
	}
	e := &Ephemeral{dir: dir, bin: bin, logf: logf}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		e.runAs = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if e.Port, err = freePort(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	logf("postgres: initdb in %s", data)
	if out, err := e.command(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync").CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	logf("postgres: starting on 127.0.0.1:%d", e.Port)
	if err := e.start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return e, nil
}

// start runs the server of e's data directory on e.Port (pg_ctl start, waiting for it).
func (e *Ephemeral) start(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", e.Port, e.dir)
	if out, err := e.command(ctx, "pg_ctl", "-D", filepath.Join(e.dir, "data"), "-o", opts, "-l", filepath.Join(e.dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(e.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop shuts the server down and removes its directory.
func (e *Ephemeral) Stop() error {
	if e.halted {
		return os.RemoveAll(e.dir)
	}
	out, err := e.command(context.Background(), "pg_ctl", "-D", filepath.Join(e.dir, "data"), "-m", "immediate", "-w", "stop").CombinedOutput()
	rmErr := os.RemoveAll(e.dir)
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return rmErr
}

func (e *Ephemeral) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, name), args...)
	cmd.Dir = e.dir
	if e.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.runAs}
		cmd.Env = append(os.Environ(), "HOME="+e.dir)
	}
	return cmd
}

// binDir finds initdb and pg_ctl: Debian's versioned directory first (the newest), then
// PATH; when neither has them, it installs the postgresql package.
func binDir(ctx context.Context, logf func(string, ...any)) (string, error) {
	find := func() string {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
		for _, d := range dirs {
			if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
				return d
			}
		}
		if p, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(p), "pg_ctl")) {
			return filepath.Dir(p)
		}
		return ""
	}
	if d := find(); d != "" {
		return d, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("no PostgreSQL binaries found: install Debian's postgresql package or set AIAS_DATABASE_URL")
	}
	logf("postgres: no local binaries; installing Debian's postgresql package")
	install := exec.CommandContext(ctx, "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null")
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing postgresql: %v\n%s", err, out)
	}
	if d := find(); d != "" {
		return d, nil
	}
	return "", errors.New("postgresql installed but initdb/pg_ctl not found")
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// reachable reports whether something accepts TCP connections at addr.
func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
