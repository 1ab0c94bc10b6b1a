package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/aias-dev/aias/internal/stepjob"
)

// fakeAiasStep is a stand-in for the step runtime (aias-step), written into a directory
// only root can enter (as a test's TempDir is): `install-runner <dst>` copies it and
// writes the user and group it ran as to <dst>.by, anything else writes its argv and
// identity to $ARGV.
func fakeAiasStep(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aias-step")
	script := "#!/bin/sh\ncase \"$1\" in\n" +
		stepjob.InstallCommand + ") cp \"$0\" \"$2\" && echo \"$(id -u):$(id -g)\" > \"$2.by\" ;;\n" +
		"*) { printf '%s\\n' \"$0\" \"$@\"; id -u; id -g; } > \"$ARGV\" ;;\nesac\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// readLines reads key=value lines.
func readLines(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		key, value, _ := strings.Cut(line, "=")
		lines[key] = value
	}
	return lines
}

// The step pod's shape: an init container installs the mapped /aias-step into an emptyDir,
// another writes into a second emptyDir; the container sees both at local paths, runs
// the installed copy, and gets env from literals, $(VAR) references, a Secret, a
// ConfigMap, envFrom and the downward API, in its workingDir. The Pod costs exactly two
// status writes, with the fields a kubelet writes.
func TestPodRuns(t *testing.T) {
	ns, a := setUp(t, func(a *Agent) { a.Binaries = map[string]string{stepjob.StepImageBinary: fakeAiasStep(t)} })
	h := watchPods(t, ns)
	ctx := context.Background()
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		Data: map[string][]byte{"token": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"greeting": "hello", "other": "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	results := sharedDir(t)
	result, argv := filepath.Join(results, "result"), filepath.Join(results, "argv")

	// $(cat ...) and $(pwd) are references to undefined variables for Kubernetes, so
	// they reach the shell unchanged.
	script := `mkdir -p "$OUT" && {
		echo "pwd=$(pwd)"; echo "init=$(cat init.txt)"; echo "out=$OUT"; echo "escaped=$ESCAPED"
		echo "missing=${MISSING-unset}"; echo "token=$TOKEN"; echo "greeting=$GREETING"; echo "cm=$CM_other"
		echo "secret=$S_token"; echo "ns=$POD_NS"; echo "pod=$POD_NAME"; echo "uid=$POD_UID"; echo "ip=$POD_IP"
		echo "node=$NODE"; echo "label=$APP"; echo "arg=$1"; echo "host=${HOME:+set}"
	} > "$RESULT" && exec "$RUNNER" step-run -- echo "$OUT"`
	pod := makePod(ns, a.NodeName, "runs", script)
	spec := &pod.Spec
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	spec.Volumes = []corev1.Volume{{Name: stepjob.BinVolume, VolumeSource: emptyDir}, {Name: "work", VolumeSource: emptyDir}}
	binMount := corev1.VolumeMount{Name: stepjob.BinVolume, MountPath: stepjob.BinDir}
	installMount := corev1.VolumeMount{Name: stepjob.BinVolume, MountPath: stepjob.InstallDir}
	workMount := corev1.VolumeMount{Name: "work", MountPath: "/work"}
	spec.InitContainers = []corev1.Container{{
		Name: stepjob.InstallContainer, Image: "example.invalid/aias:1",
		Command:      []string{stepjob.StepImageBinary, stepjob.InstallCommand, stepjob.InstallPath},
		VolumeMounts: []corev1.VolumeMount{installMount},
	}, {
		Name: "prepare", Image: "example.invalid/init:1", VolumeMounts: []corev1.VolumeMount{workMount},
		Command: []string{"sh", "-c", `echo from-init > "$WORK/init.txt"`},
		Env:     []corev1.EnvVar{{Name: "WORK", Value: "/work"}},
	}}
	main := &spec.Containers[0]
	main.Args = []string{"sh", "$(OUT)/arg"}
	main.WorkingDir = "/work"
	main.VolumeMounts = []corev1.VolumeMount{binMount, workMount}
	main.EnvFrom = []corev1.EnvFromSource{
		{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
		{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
	}
	fieldRef := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	main.Env = []corev1.EnvVar{
		{Name: "OUT", Value: "/work/out"},
		{Name: "ESCAPED", Value: "$$(OUT)"},
		{Name: "RESULT", Value: result},
		{Name: "ARGV", Value: argv},
		{Name: "RUNNER", Value: stepjob.RunnerPath},
		{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
		{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "greeting"}}},
		{Name: "MISSING", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: ptr.To(true)}}},
		{Name: "POD_NS", ValueFrom: fieldRef("metadata.namespace")},
		{Name: "POD_NAME", ValueFrom: fieldRef("metadata.name")},
		{Name: "POD_UID", ValueFrom: fieldRef("metadata.uid")},
		{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
		{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
		{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
	}
	start := time.Now()
	created := create(t, pod)
	got := waitTerminal(t, pod, 20*time.Second)
	t.Logf("Succeeded after %v", time.Since(start).Round(time.Millisecond))
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %+v", got.Status.Phase, got.Status)
	}

	work := filepath.Join(podDir(a.WorkRoot, got), "volumes", "work")
	out := filepath.Join(work, "out")
	lines := readLines(t, result)
	for key, want := range map[string]string{
		"pwd": work, "init": "from-init", "out": out, "escaped": "$(OUT)", "missing": "unset",
		"token": "s3cret", "greeting": "hello", "cm": "x", "secret": "s3cret", "ns": ns, "pod": "runs",
		"uid": string(created.UID), "ip": "127.0.0.1", "node": a.NodeName, "label": "nodeagent-test",
		"arg": out + "/arg", "host": "set",
	} {
		if lines[key] != want {
			t.Errorf("%s = %q, want %q", key, lines[key], want)
		}
	}
	raw, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(podDir(a.WorkRoot, got), "volumes", stepjob.BinVolume, filepath.Base(stepjob.InstallPath))
	if want := strings.Join([]string{bin, "step-run", "--", "echo", out}, "\n") + "\n"; !strings.HasPrefix(string(raw), want) {
		t.Errorf("the installed runner saw argv\n%s\nwant\n%s", raw, want)
	}

	h.wantPhases(t, "runs", corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded)
	wantStatusWrites(t, a.Agent, 2)
	running := h.first("runs", corev1.PodRunning)
	wantAddresses(t, running)
	wantConditions(t, running, "PodReadyToStartContainers=True", "Initialized=True", "ContainersReady=True", "Ready=True", "PodScheduled=True")
	for _, name := range []string{stepjob.InstallContainer, "prepare"} {
		if term := terminated(t, running.Status.InitContainerStatuses, name); term.ExitCode != 0 || term.Reason != "Completed" ||
			term.StartedAt.IsZero() || term.FinishedAt.IsZero() {
			t.Errorf("init container %s: %+v", name, term)
		}
	}
	if cs := running.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || cs[0].State.Running.StartedAt.IsZero() ||
		!cs[0].Ready || !ptr.Deref(cs[0].Started, false) || cs[0].Image != "example.invalid/main:1" || cs[0].ImageID == "" || cs[0].ContainerID == "" {
		t.Errorf("running container status: %+v", cs)
	}
	wantAddresses(t, got)
	wantConditions(t, got, "PodReadyToStartContainers=False/PodSandboxNotReady", "Initialized=True/PodCompleted",
		"ContainersReady=False/PodCompleted", "Ready=False/PodCompleted", "PodScheduled=True")
	if term := terminated(t, got.Status.ContainerStatuses, "main"); term.ExitCode != 0 || term.Reason != "Completed" ||
		term.StartedAt.IsZero() || term.FinishedAt.Before(&term.StartedAt) {
		t.Errorf("main container: %+v", term)
	}
	if !got.Status.StartTime.Equal(running.Status.StartTime) || got.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("startTime %v (was %v), qosClass %q", got.Status.StartTime, running.Status.StartTime, got.Status.QOSClass)
	}
	waitEmpty(t, a.WorkRoot)
}

// Failures end the Pod Failed with the container's exit code and the kubelet's
// reasons; a Pod the agent cannot run fails at once with a clear message. A failing
// init container fails the Pod at once, so it costs one status write.
func TestFailures(t *testing.T) {
	ns, a := setUp(t, func(a *Agent) { a.KeepFailed = true })
	h := watchPods(t, ns)
	marker := filepath.Join(sharedDir(t), "main-ran")

	exit3 := makePod(ns, a.NodeName, "exit-3", "echo boom >&2; exit 3")
	signaled := makePod(ns, a.NodeName, "signaled", "kill -TERM $$$$")
	initFails := makePod(ns, a.NodeName, "init-fails", "touch "+marker)
	initFails.Spec.InitContainers = []corev1.Container{{Name: "prep", Image: "example.invalid/init", Command: []string{"sh", "-c", "exit 7"}}}
	notFound := makePod(ns, a.NodeName, "not-found", "")
	notFound.Spec.Containers[0].Command = []string{"no-such-command-anywhere"}
	hostPath := makePod(ns, a.NodeName, "host-path", "true")
	hostPath.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}}}
	always := makePod(ns, a.NodeName, "always", "true")
	always.Spec.RestartPolicy = corev1.RestartPolicyAlways
	for _, p := range []*corev1.Pod{exit3, signaled, initFails, notFound, hostPath, always} {
		create(t, p)
	}

	got := waitTerminal(t, exit3, 20*time.Second)
	if term := terminated(t, got.Status.ContainerStatuses, "main"); got.Status.Phase != corev1.PodFailed || term.ExitCode != 3 || term.Reason != "Error" {
		t.Errorf("exit-3: phase %s, %+v", got.Status.Phase, term)
	}
	wantAddresses(t, got)
	wantConditions(t, got, "PodReadyToStartContainers=False/PodSandboxNotReady", "Initialized=True",
		"ContainersReady=False/PodFailed", "Ready=False/PodFailed", "PodScheduled=True")
	logs := filepath.Join(podDir(a.WorkRoot, got), "logs")
	if want := `container "main" exited with code 3; logs in ` + logs; got.Status.Message != want {
		t.Errorf("message %q, want %q", got.Status.Message, want)
	}
	if stderr, err := os.ReadFile(filepath.Join(logs, "main.stderr")); err != nil || strings.TrimSpace(string(stderr)) != "boom" {
		t.Errorf("kept stderr = %q, %v; want boom", stderr, err)
	}
	h.wantPhases(t, "exit-3", corev1.PodPending, corev1.PodRunning, corev1.PodFailed)

	got = waitTerminal(t, signaled, 20*time.Second)
	if term := terminated(t, got.Status.ContainerStatuses, "main"); got.Status.Phase != corev1.PodFailed || term.ExitCode != 128+15 || term.Reason != "Error" {
		t.Errorf("signaled: phase %s, %+v", got.Status.Phase, term)
	}

	got = waitTerminal(t, initFails, 20*time.Second)
	if term := terminated(t, got.Status.InitContainerStatuses, "prep"); got.Status.Phase != corev1.PodFailed || term.ExitCode != 7 || term.Reason != "Error" {
		t.Errorf("init-fails: phase %s, %+v", got.Status.Phase, term)
	}
	if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "PodInitializing" {
		t.Errorf("init-fails: containers %+v", cs)
	}
	wantConditions(t, got, "Initialized=False/ContainersNotInitialized", "Ready=False/PodFailed")
	h.wantPhases(t, "init-fails", corev1.PodPending, corev1.PodFailed)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the container ran although its init container failed")
	}

	got = waitTerminal(t, notFound, 20*time.Second)
	if term := terminated(t, got.Status.ContainerStatuses, "main"); got.Status.Phase != corev1.PodFailed || term.ExitCode != 128 ||
		term.Reason != "StartError" || !strings.Contains(term.Message, `executable file "no-such-command-anywhere" not found`) {
		t.Errorf("not-found: phase %s, %+v", got.Status.Phase, term)
	}
	h.wantPhases(t, "not-found", corev1.PodPending, corev1.PodFailed)

	for pod, want := range map[*corev1.Pod]string{
		hostPath: `volume "host" is a hostPath volume; the node agent supports only emptyDir volumes`,
		always:   "restartPolicy Always is not supported",
	} {
		got = waitTerminal(t, pod, 20*time.Second)
		if got.Status.Phase != corev1.PodFailed || got.Status.Reason != ReasonUnsupported || !strings.Contains(got.Status.Message, want) {
			t.Errorf("%s: phase %s, reason %s, message %q; want %q", pod.Name, got.Status.Phase, got.Status.Reason, got.Status.Message, want)
		}
		h.wantPhases(t, pod.Name, corev1.PodPending, corev1.PodFailed)
	}
	// Two each for the Pods that ran, one for the others.
	wantStatusWrites(t, a.Agent, 2+2+1+1+1+1)
}

// Instant mode runs nothing and gives each Pod the same two status writes.
func TestInstant(t *testing.T) {
	ns, a := setUp(t, func(a *Agent) { a.Instant = true })
	h := watchPods(t, ns)
	marker := filepath.Join(sharedDir(t), "ran")
	const n = 5
	var pods []*corev1.Pod
	for i := range n {
		p := makePod(ns, a.NodeName, "instant-"+string(rune('a'+i)), "touch "+marker)
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "example.invalid/init", Command: []string{"touch", marker}}}
		pods = append(pods, create(t, p))
	}
	for _, p := range pods {
		got := waitTerminal(t, p, 20*time.Second)
		if got.Status.Phase != corev1.PodSucceeded || terminated(t, got.Status.ContainerStatuses, "main").ExitCode != 0 ||
			terminated(t, got.Status.InitContainerStatuses, "init").Reason != "Completed" {
			t.Errorf("%s: %+v", p.Name, got.Status)
		}
		h.wantPhases(t, p.Name, corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded)
		wantConditions(t, h.first(p.Name, corev1.PodRunning), "Initialized=True", "Ready=True")
	}
	wantStatusWrites(t, a.Agent, 2*n)
	if _, err := os.Stat(marker); err == nil {
		t.Error("instant mode ran a process")
	}
}

// activeDeadlineSeconds counts from status.startTime: at the deadline the processes
// stop and the Pod fails with the kubelet's DeadlineExceeded.
func TestDeadlineExceeded(t *testing.T) {
	ns, a := setUp(t, nil)
	pidfile := filepath.Join(sharedDir(t), "pid")
	pod := makePod(ns, a.NodeName, "deadline", `echo $$$$ > "$PIDFILE"; exec sleep 30`)
	pod.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	start := time.Now()
	create(t, pod)
	pid := readPIDs(t, pidfile, 1)[0]
	got := waitTerminal(t, pod, 10*time.Second)
	took := time.Since(start)
	t.Logf("failed after %v", took.Round(time.Millisecond))
	if s := got.Status; s.Phase != corev1.PodFailed || s.Reason != "DeadlineExceeded" || s.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("phase %s, reason %s, message %q", s.Phase, s.Reason, s.Message)
	}
	if term := terminated(t, got.Status.ContainerStatuses, "main"); term.ExitCode != 128+15 {
		t.Errorf("main: %+v, want exit code 143 (SIGTERM)", term)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("deadline of 1s enforced after %v", took)
	}
	if alive(pid) {
		t.Errorf("sleep (pid %d) survived the deadline", pid)
	}
	wantStatusWrites(t, a.Agent, 2)
}

// Deleting a running Pod stops its processes with SIGTERM, then SIGKILL after the grace
// period (the deletion's, capped by MaxGracePeriod), records how they ended, and
// deletes the Pod with grace period 0: the object is gone.
func TestDeletion(t *testing.T) {
	ns, a := setUp(t, func(a *Agent) { a.MaxGracePeriod = 2 * time.Second })
	h := watchPods(t, ns)
	dir := sharedDir(t)
	ignoresTERM := `trap "" TERM; sleep 30 & echo $$$$ $! > "$PIDFILE"; wait`
	cases := []struct {
		name     string
		script   string
		grace    *int64 // of the deletion; nil: the Pod's 30 s
		min, max time.Duration
	}{
		{"capped", ignoresTERM, nil, 2 * time.Second, 5 * time.Second},
		{"grace-1", ignoresTERM, ptr.To[int64](1), time.Second, 2 * time.Second},
		{"prompt", `sleep 30 & echo $$$$ $! > "$PIDFILE"; wait`, nil, 0, 1500 * time.Millisecond},
	}
	pods := map[string]*corev1.Pod{}
	for _, c := range cases {
		p := makePod(ns, a.NodeName, c.name, c.script)
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: filepath.Join(dir, c.name)}}
		pods[c.name] = create(t, p)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pids := readPIDs(t, filepath.Join(dir, c.name), 2)
			waitPhase(t, pods[c.name], 10*time.Second, corev1.PodRunning)
			start := time.Now()
			if err := kube.CoreV1().Pods(ns).Delete(context.Background(), c.name, metav1.DeleteOptions{GracePeriodSeconds: c.grace}); err != nil {
				t.Fatal(err)
			}
			waitDeleted(t, pods[c.name], 10*time.Second)
			took := time.Since(start)
			t.Logf("pod gone after %v", took.Round(time.Millisecond))
			if took < c.min || took > c.max {
				t.Errorf("pod gone after %v, want %v to %v", took, c.min, c.max)
			}
			waitGone(t, time.Second, pids...)
			if last := h.last(c.name); last == nil || last.Status.Phase != corev1.PodFailed {
				t.Errorf("last status before deletion: %+v", last)
			} else if term := terminated(t, last.Status.ContainerStatuses, "main"); term.ExitCode != 137 && term.ExitCode != 143 {
				t.Errorf("main ended %+v, want killed", term)
			}
		})
	}
	waitEmpty(t, a.WorkRoot)
}

// The garbage collector deletes the Pods of a deleted owner (here a ConfigMap); the
// agent stops the running one and finishes its deletion, and the finished one goes too. The agent runs
// as a controller-runtime manager's Runnable.
func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{Config: mgr.GetConfig(), NodeName: newNode(t), WorkRoot: newWorkRoot(t), MaxGracePeriod: time.Second}
	if err := mgr.Add(a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("manager: %v", err)
		}
		a.Stop()
	})
	select {
	case <-a.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("agent not ready")
	}

	owner, err := kube.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}
	running := makePod(ns, a.NodeName, "running", "exec sleep 30")
	finished := makePod(ns, a.NodeName, "finished", "true")
	for _, p := range []*corev1.Pod{running, finished} {
		p.OwnerReferences = []metav1.OwnerReference{ref}
		create(t, p)
	}
	waitPhase(t, running, 10*time.Second, corev1.PodRunning)
	waitPhase(t, finished, 10*time.Second, corev1.PodSucceeded)
	start := time.Now()
	if err := kube.CoreV1().ConfigMaps(ns).Delete(context.Background(), owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{running, finished} {
		waitDeleted(t, p, 15*time.Second)
	}
	t.Logf("both pods gone %v after their owner", time.Since(start).Round(time.Millisecond))
	// The apiserver deletes a terminal Pod at once (grace period 0): only the running
	// one needed the agent's final deletion.
	waitFor(t, "one pod deletion", func() bool { return a.Writes().PodDeletes == 1 })
}

// Kill ends a running Pod as an OOM kill would: exit code 137, Failed.
func TestKill(t *testing.T) {
	ns, a := setUp(t, nil)
	pod := create(t, makePod(ns, a.NodeName, "killed", "exec sleep 30"))
	waitPhase(t, pod, 10*time.Second, corev1.PodRunning)
	if err := a.Kill(ns, "killed"); err != nil {
		t.Fatal(err)
	}
	got := waitTerminal(t, pod, 10*time.Second)
	if term := terminated(t, got.Status.ContainerStatuses, "main"); got.Status.Phase != corev1.PodFailed || term.ExitCode != 137 || term.Reason != "Error" {
		t.Errorf("phase %s, %+v", got.Status.Phase, term)
	}
	if err := a.Kill(ns, "killed"); err == nil {
		t.Error("Kill of a pod that no longer runs did not fail")
	}
	if err := a.Kill(ns, "no-such-pod"); err == nil {
		t.Error("Kill of an unknown pod did not fail")
	}
}

// Stopping the agent kills every process and waits for them; the Pod keeps its
// Running status, and the next agent on the Node (which adopts it) fails it as
// NodeAgentRestarted. A Pod bound meanwhile, still Pending, simply runs.
func TestRestart(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	node, root := newNode(t), newWorkRoot(t)
	configure := func(a *Agent) { a.NodeName, a.WorkRoot = node, root }
	first := startAgent(t, configure)
	pidfile := filepath.Join(sharedDir(t), "pid")
	orphan := makePod(ns, node, "orphan", `echo $$$$ > "$PIDFILE"; exec sleep 30`)
	orphan.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	create(t, orphan)
	pid := readPIDs(t, pidfile, 1)[0]
	waitPhase(t, orphan, 10*time.Second, corev1.PodRunning)

	start := time.Now()
	first.stop()
	t.Logf("agent and processes stopped in %v", time.Since(start).Round(time.Millisecond))
	if alive(pid) {
		t.Fatalf("process %d outlived the agent", pid)
	}
	if got := waitPhase(t, orphan, time.Second, corev1.PodRunning); got.Status.Phase != corev1.PodRunning {
		t.Fatalf("status after stop: %+v", got.Status)
	}
	// The stopped agent cordoned its Node: nothing is bound to it meanwhile...
	later := create(t, makePod(ns, node, "later", "true"))
	time.Sleep(time.Second)
	if p, err := kube.CoreV1().Pods(ns).Get(context.Background(), later.Name, metav1.GetOptions{}); err != nil || p.Spec.NodeName != "" {
		t.Fatalf("a Pod was bound to the cordoned Node")
	}
	// ...until the next agent of the Node uncordons it.
	second := startAgent(t, configure)
	waitPod(t, later, 10*time.Second, "bound", func(p *corev1.Pod) bool { return p.Spec.NodeName == node })
	got := waitTerminal(t, orphan, 10*time.Second)
	if s := got.Status; s.Phase != corev1.PodFailed || s.Reason != ReasonRestarted || !strings.Contains(s.Message, "stopped before the Pod finished") {
		t.Errorf("orphan: phase %s, reason %s, message %q", s.Phase, s.Reason, s.Message)
	}
	if term := terminated(t, got.Status.ContainerStatuses, "main"); term.ExitCode != 137 || term.Reason != "ContainerStatusUnknown" {
		t.Errorf("orphan's container: %+v", term)
	}
	wantConditions(t, got, "Ready=False/PodFailed", "ContainersReady=False/PodFailed")
	if got := waitTerminal(t, later, 20*time.Second); got.Status.Phase != corev1.PodSucceeded {
		t.Errorf("later: %+v", got.Status)
	}
	wantStatusWrites(t, second.Agent, 1+2)
}
