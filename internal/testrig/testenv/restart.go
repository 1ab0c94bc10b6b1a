package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// apiserverRestarts is what StopAPIServer keeps so that StartAPIServer brings the same
// kube-apiserver back.
type apiserverRestarts struct {
	mu      sync.Mutex
	stopped bool
	// certDir is a copy of the apiserver's certificate directory (serving certificate,
	// service-account signing keys) that outlives the stop; "" until the first stop.
	certDir string
	// log is the output of the apiserver StartAPIServer started ("" before).
	log     string
	logFile *os.File
}

func (r *apiserverRestarts) cleanup() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logFile != nil {
		_ = r.logFile.Close()
	}
	if r.certDir != "" {
		_ = os.RemoveAll(r.certDir)
	}
}

// StopAPIServer stops kube-apiserver (SIGTERM, as a control plane upgrade does) and
// leaves etcd, kube-controller-manager, kube-scheduler and every client running, for
// tests of an apiserver outage. StartAPIServer brings it back
// on the same port with the same serving certificate, client CA and service-account
// keys, so every rest.Config, client certificate and token stays valid.
func (e *Env) StopAPIServer() error {
	e.apiserver.mu.Lock()
	defer e.apiserver.mu.Unlock()
	if e.apiserver.stopped {
		return errors.New("testenv: kube-apiserver already stopped")
	}
	as := e.ControlPlane.GetAPIServer()
	if e.apiserver.certDir == "" {
		// envtest removes a certificate directory it made when the apiserver stops, and
		// would make new certificates and keys at the next start: keep a copy and start
		// from it (a directory envtest did not make is left alone, and removed by Stop).
		dir, err := os.MkdirTemp("", "aias-apiserver-certs-")
		if err != nil {
			return err
		}
		if err := copyFlatDir(as.CertDir, dir); err != nil {
			_ = os.RemoveAll(dir)
			return fmt.Errorf("keeping the apiserver's certificates: %w", err)
		}
		e.apiserver.certDir = dir
	}
	err := as.Stop()
	// Even when it failed (envtest kills an apiserver that does not stop in time), the
	// next start must use the kept certificates.
	as.CertDir = e.apiserver.certDir
	e.apiserver.stopped = true
	if err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts the kube-apiserver StopAPIServer stopped, on the same port and
// etcd, and returns once it reports healthy.
func (e *Env) StartAPIServer() error {
	e.apiserver.mu.Lock()
	defer e.apiserver.mu.Unlock()
	if !e.apiserver.stopped {
		return errors.New("testenv: kube-apiserver is not stopped")
	}
	as := e.ControlPlane.GetAPIServer()
	// A killed apiserver may hold its port a moment longer.
	addr := as.SecureServing.HostPort()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		_ = c.Close()
	}
	// Every client reconnects and relists at once: give it longer than envtest's 20 s.
	as.StartTimeout = max(as.StartTimeout, 90*time.Second)
	if as.Out == nil && as.Err == nil {
		f, err := os.OpenFile(filepath.Join(e.apiserver.certDir, "kube-apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		e.apiserver.log, e.apiserver.logFile = f.Name(), f
		as.Out, as.Err = f, f
	}
	if err := as.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	e.apiserver.stopped = false
	return nil
}

// APIServerLog is the path of the output of the kube-apiserver that StartAPIServer
// started, for a test that wants to show it; "" before StartAPIServer.
func (e *Env) APIServerLog() string {
	e.apiserver.mu.Lock()
	defer e.apiserver.mu.Unlock()
	return e.apiserver.log
}

// ComponentsExited reports a control plane component beside the apiserver
// (kube-controller-manager, kube-scheduler) that has exited, with the end of its log;
// nil while all of them run.
func (e *Env) ComponentsExited() error { return exited(e.components) }

// copyFlatDir copies the regular files of src into dst (no subdirectories: a
// certificate directory has none).
func copyFlatDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, ent.Name()), filepath.Join(dst, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
