package devkubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/stepjob"
)

// A Job with an init container, an emptyDir shared with the step container, and env
// from literals, $(VAR) references, a Secret, a ConfigMap, envFrom and the downward API
// completes; the step saw its volume at a local path and everything resolved.
func TestJobCompletes(t *testing.T) {
	ns := newNamespace(t)
	k := startKubelet(t, ns, nil)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
		Data: map[string][]byte{"token": []byte("s3cret")}})
	create(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"},
		Data: map[string]string{"greeting": "hello", "other": "x"}})
	result := filepath.Join(t.TempDir(), "result") // a host path: not under any mountPath

	// $(cat ...) and $(pwd) are references to undefined variables for Kubernetes, so
	// they reach the shell unchanged.
	script := `mkdir -p "$OUT" && echo "$GREETING $TOKEN" > "$OUT/x" && {
		echo "out=$OUT"; echo "x=$(cat "$OUT/x")"; echo "init=$(cat /work/init.txt 2>&1)"
		echo "initvia=$(cat "$WORK/init.txt")"; echo "escaped=$ESCAPED"; echo "missing=${MISSING-unset}"
		echo "ns=$POD_NS"; echo "pod=$POD_NAME"; echo "run=$RUN"; echo "cm=$CM_other"
		echo "arg=$1"; echo "pwd=$(pwd)"; echo "host=${HOME:+set}"
	} > "$RESULT"`
	job := newJob(ns, "completes", script)
	spec := &job.Spec.Template.Spec
	spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	spec.InitContainers = []corev1.Container{{
		Name: "prepare", Image: "example.invalid/init", VolumeMounts: mounts,
		Command: []string{"sh", "-c", `echo from-init > "$WORK/init.txt"`},
		Env:     []corev1.EnvVar{{Name: "WORK", Value: "/work"}},
	}}
	step := &spec.Containers[0]
	step.Args = []string{"sh", "$(OUT)/arg"}
	step.VolumeMounts = mounts
	step.EnvFrom = []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}
	step.Env = []corev1.EnvVar{
		{Name: "WORK", Value: "/work"},
		{Name: "OUT", Value: "$(WORK)/out"},
		{Name: "ESCAPED", Value: "$$(WORK)"},
		{Name: "RESULT", Value: result},
		{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}},
		{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr.To(true)}}},
		{Name: "POD_NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "RUN", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['aias.dev/run']"}}},
	}
	start := time.Now()
	create(t, job)

	got := waitFinished(t, job, 20*time.Second)
	t.Logf("finished in %v", time.Since(start).Round(time.Millisecond))
	if cond(got, batchv1.JobComplete) == nil || cond(got, batchv1.JobSuccessCriteriaMet) == nil {
		t.Fatalf("want Complete and SuccessCriteriaMet, got %+v", got.Status.Conditions)
	}
	if s := got.Status; s.Succeeded != 1 || s.Active != 0 || s.Failed != 0 || s.StartTime == nil ||
		s.CompletionTime == nil || s.CompletionTime.Before(s.StartTime) {
		t.Errorf("inconsistent complete status: %+v", s)
	}

	out := filepath.Join(volumeDir(k.Kubelet, got, "work"), "out")
	raw, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		key, value, _ := strings.Cut(line, "=")
		lines[key] = value
	}
	for key, want := range map[string]string{
		"out":     out,
		"x":       "hello s3cret",
		"initvia": "from-init",
		"escaped": "$(WORK)",
		"missing": "unset",
		"ns":      ns,
		"pod":     podName(got),
		"run":     "run-1",
		"cm":      "x",
		"arg":     out + "/arg",
		"pwd":     filepath.Join(podDirOf(k.Kubelet, got), "rootfs", stepjob.StepContainer),
		"host":    "set",
	} {
		if lines[key] != want {
			t.Errorf("%s = %q, want %q", key, lines[key], want)
		}
	}
	// Paths inside a script are the script's business: only whole values are rewritten.
	if !strings.Contains(lines["init"], "No such file") {
		t.Errorf("init = %q: /work inside a script must not exist on the host", lines["init"])
	}
	if !strings.HasPrefix(podName(got), "completes-") || len(podName(got)) != len("completes-")+5 {
		t.Errorf("pod name %q", podName(got))
	}
	waitEmpty(t, k.WorkRoot)
}

// Failures end the Job Failed with a message naming the container and how it ended.
func TestJobFails(t *testing.T) {
	ns := newNamespace(t)
	k := startKubelet(t, ns, func(k *Kubelet) { k.KeepFailed = true })
	marker := filepath.Join(t.TempDir(), "main-ran")

	exit3 := newJob(ns, "exit-3", "echo boom >&2; exit 3")

	initFails := newJob(ns, "init-fails", "touch "+marker)
	initFails.Spec.Template.Spec.InitContainers = []corev1.Container{{
		Name: "prep", Image: "example.invalid/init", Command: []string{"sh", "-c", "exit 7"}}}

	hostPath := newJob(ns, "host-path", "true")
	hostPath.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}}}

	noCommand := newJob(ns, "no-command", "")
	noCommand.Spec.Template.Spec.Containers[0].Command = nil

	notFound := newJob(ns, "not-found", "")
	notFound.Spec.Template.Spec.Containers[0].Command = []string{"no-such-command-anywhere"}

	resourceRef := newJob(ns, "resource-ref", "true")
	resourceRef.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "CPU", ValueFrom: &corev1.EnvVarSource{
		ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}

	cases := []struct {
		job     *batchv1.Job
		reason  string
		message string
	}{
		{exit3, batchv1.JobReasonBackoffLimitExceeded, "container step exited with code 3 (logs in "},
		{initFails, batchv1.JobReasonBackoffLimitExceeded, "init container prep exited with code 7"},
		{hostPath, ReasonUnsupported, `volume "host" is a hostPath volume`},
		{noCommand, ReasonUnsupported, `container "step" has no command`},
		{notFound, batchv1.JobReasonBackoffLimitExceeded, `container step could not start: executable file "no-such-command-anywhere" not found`},
		{resourceRef, ReasonUnsupported, "env CPU: resourceFieldRef is not supported"},
	}
	for _, c := range cases {
		create(t, c.job)
	}
	for _, c := range cases {
		t.Run(c.job.Name, func(t *testing.T) {
			got := waitFinished(t, c.job, 20*time.Second)
			assertFailed(t, got, c.reason, c.message)
		})
	}

	stderr, err := os.ReadFile(filepath.Join(podDirOf(k.Kubelet, waitFinished(t, exit3, time.Second)), "logs", "step.stderr"))
	if err != nil || strings.TrimSpace(string(stderr)) != "boom" {
		t.Errorf("kept stderr = %q, %v; want boom", stderr, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the step container ran although its init container failed")
	}
}

// activeDeadlineSeconds counts from status.startTime; at the deadline the process group
// is killed and the Job fails with DeadlineExceeded.
func TestDeadlineExceeded(t *testing.T) {
	ns := newNamespace(t)
	startKubelet(t, ns, nil)
	pidfile := filepath.Join(t.TempDir(), "pid")
	job := newJob(ns, "deadline", `echo $$$$ > "$PIDFILE"; exec sleep 30`)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	start := time.Now()
	create(t, job)

	pid := readPIDs(t, pidfile, 1)[0]
	got := waitFinished(t, job, 10*time.Second)
	took := time.Since(start)
	t.Logf("failed after %v", took.Round(time.Millisecond))
	assertFailed(t, got, batchv1.JobReasonDeadlineExceeded, "deadline")
	if took < time.Second || took > 5*time.Second {
		t.Errorf("deadline of 1s enforced after %v", took)
	}
	if alive(pid) {
		t.Errorf("sleep (pid %d) survived the deadline", pid)
	}
}

// Deleting a running Job kills its whole process group, also a process that ignores
// SIGTERM (after the grace period), and writes no status.
func TestDeleteKillsProcesses(t *testing.T) {
	ns := newNamespace(t)
	k := startKubelet(t, ns, nil)
	for _, policy := range []metav1.DeletionPropagation{metav1.DeletePropagationBackground, metav1.DeletePropagationOrphan} {
		// Background: the Job is gone at once. Orphan: it keeps a finalizer that only the
		// garbage collector removes, so under envtest it stays with a deletionTimestamp.
		t.Run(string(policy), func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			job := newJob(ns, "delete-"+strings.ToLower(string(policy)), `trap "" TERM; sleep 30 & echo $$$$ $! > "$PIDFILE"; wait`)
			job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
			create(t, job)
			pids := readPIDs(t, pidfile, 2)
			waitJob(t, job, 5*time.Second, "started", func(j *batchv1.Job) bool { return j.Status.StartTime != nil })

			start := time.Now()
			if err := env.Client.Delete(context.Background(), job, client.PropagationPolicy(policy)); err != nil {
				t.Fatal(err)
			}
			waitGone(t, 10*time.Second, pids...)
			t.Logf("shell %d and its sleep %d gone after %v", pids[0], pids[1], time.Since(start).Round(time.Millisecond))
		})
	}
	waitEmpty(t, k.WorkRoot)
}

// Suspending a running Job kills its processes and leaves its status alone; resuming
// runs it again.
func TestSuspendAndResume(t *testing.T) {
	ns := newNamespace(t)
	startKubelet(t, ns, nil)
	pidfile := filepath.Join(t.TempDir(), "pid")
	job := newJob(ns, "suspend", `echo $$$$ >> "$PIDFILE"; exec sleep 30`)
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	create(t, job)
	first := readPIDs(t, pidfile, 1)[0]

	setSuspend := func(v bool) {
		t.Helper()
		patch := client.MergeFrom(job.DeepCopy())
		job.Spec.Suspend = ptr.To(v)
		if err := env.Client.Patch(context.Background(), job, patch); err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(true)
	waitGone(t, 10*time.Second, first)
	got := waitJob(t, job, time.Second, "read", func(*batchv1.Job) bool { return true })
	if isFinished(got) || got.Status.StartTime == nil {
		t.Errorf("status after suspend: %+v", got.Status)
	}

	setSuspend(false)
	second := readPIDs(t, pidfile, 2)[1]
	if !alive(second) {
		t.Errorf("resumed process %d is not running", second)
	}
	if err := env.Client.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, 10*time.Second, second)
}

// The runner contract: the init container runs the image's /aias (mapped by Binaries)
// to install itself into the bin volume, and the step container runs that copy.
func TestBinariesAndMountRewriting(t *testing.T) {
	ns := newNamespace(t)
	fake := filepath.Join(t.TempDir(), "aias")
	script := "#!/bin/sh\ncase \"$1\" in\n" +
		stepjob.InstallCommand + ") exec cp \"$0\" \"$2\" ;;\n" +
		"*) printf '%s\\n' \"$0\" \"$@\" > \"$RESULT\" ;;\nesac\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	k := startKubelet(t, ns, func(k *Kubelet) { k.Binaries = map[string]string{stepjob.ImageBinary: fake} })
	result := filepath.Join(t.TempDir(), "result")

	job := newJob(ns, "binaries", "")
	spec := &job.Spec.Template.Spec
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	spec.Volumes = []corev1.Volume{{Name: stepjob.BinVolume, VolumeSource: emptyDir}, {Name: stepjob.WorkVolume, VolumeSource: emptyDir}}
	spec.InitContainers = []corev1.Container{{
		Name: stepjob.InstallContainer, Image: "example.invalid/aias",
		Command:      []string{stepjob.ImageBinary, stepjob.InstallCommand, stepjob.RunnerPath},
		VolumeMounts: []corev1.VolumeMount{{Name: stepjob.BinVolume, MountPath: stepjob.BinDir}},
	}}
	step := &spec.Containers[0]
	step.Command = []string{stepjob.RunnerPath, "step-run", "--", "echo", stepjob.OutputDir}
	step.VolumeMounts = []corev1.VolumeMount{
		{Name: stepjob.BinVolume, MountPath: stepjob.BinDir},
		{Name: stepjob.WorkVolume, MountPath: stepjob.WorkDir},
	}
	step.Env = []corev1.EnvVar{{Name: "RESULT", Value: result}}
	create(t, job)

	got := waitFinished(t, job, 20*time.Second)
	if cond(got, batchv1.JobComplete) == nil {
		t.Fatalf("want Complete, got %+v", got.Status.Conditions)
	}
	raw, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		filepath.Join(volumeDir(k.Kubelet, got, stepjob.BinVolume), "aias"), // the installed copy ran
		"step-run", "--", "echo",
		filepath.Join(volumeDir(k.Kubelet, got, stepjob.WorkVolume), "out"),
	}, "\n") + "\n"
	if string(raw) != want {
		t.Errorf("step saw argv\n%s\nwant\n%s", raw, want)
	}
	waitEmpty(t, k.WorkRoot)
}

// Stopping the manager kills every process and waits for them; the Job keeps its
// started status, and the next dev kubelet fails it as DevKubeletRestarted.
func TestRestartFailsOrphanedJobs(t *testing.T) {
	ns := newNamespace(t)
	first := startKubelet(t, ns, nil)
	pidfile := filepath.Join(t.TempDir(), "pid")
	job := newJob(ns, "orphaned", `echo $$$$ > "$PIDFILE"; exec sleep 30`)
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	create(t, job)
	pid := readPIDs(t, pidfile, 1)[0]
	waitJob(t, job, 5*time.Second, "started", func(j *batchv1.Job) bool { return j.Status.StartTime != nil })

	start := time.Now()
	first.stop()
	t.Logf("manager and processes stopped in %v", time.Since(start).Round(time.Millisecond))
	if alive(pid) {
		t.Fatalf("process %d outlived the dev kubelet", pid)
	}
	waitEmpty(t, first.WorkRoot)
	got := waitJob(t, job, time.Second, "read", func(*batchv1.Job) bool { return true })
	if isFinished(got) || got.Status.Active != 1 {
		t.Errorf("status after stop: %+v", got.Status)
	}

	startKubelet(t, ns, nil)
	got = waitFinished(t, job, 20*time.Second)
	assertFailed(t, got, ReasonRestarted, "stopped before the Job finished")
}

// A Job suspended before it started, or without the step label, is left alone.
func TestIgnoresSuspendedAndUnlabeledJobs(t *testing.T) {
	ns := newNamespace(t)
	marker := filepath.Join(t.TempDir(), "ran")
	suspended := newJob(ns, "suspended", "touch "+marker)
	suspended.Spec.Suspend = ptr.To(true)
	create(t, suspended)
	unlabeled := newJob(ns, "unlabeled", "touch "+marker)
	unlabeled.Labels = nil // the apiserver would copy the template's labels to the Job
	unlabeled.Spec.Template.Labels = map[string]string{"app": "not-a-step"}
	create(t, unlabeled)
	// The sentinel is listed with the others when the dev kubelet starts: once it is
	// done, the others have been looked at too.
	sentinel := newJob(ns, "sentinel", "true")
	create(t, sentinel)

	startKubelet(t, ns, nil)
	if got := waitFinished(t, sentinel, 20*time.Second); cond(got, batchv1.JobComplete) == nil {
		t.Fatalf("sentinel: %+v", got.Status.Conditions)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a suspended or unlabeled Job ran")
	}
	for _, j := range []*batchv1.Job{suspended, unlabeled} {
		got := waitJob(t, j, time.Second, "read", func(*batchv1.Job) bool { return true })
		if got.Status.StartTime != nil {
			t.Errorf("%s: status written: %+v", j.Name, got.Status)
		}
	}
}
