// Package stepjob is the step contract: between the Run controller, which turns a step
// attempt into a Kubernetes Job and its Pod, whatever runs that Pod (a real kubelet, or
// the node agent under envtest), `aias-step step-run` inside it, and the internal step API it
// calls. Names here are what users see in `kubectl get jobs,pods -L ...`.
package stepjob

const (
	// ManagedBy is the spec.managedBy of every step Job: the built-in Job controller
	// leaves such a Job alone, and the Run controller creates its one Pod and writes its
	// status (as Kubernetes 1.35+ lets an external controller, e.g. Kueue's MultiKueue).
	// The Pod has the Job's name and a controller reference to the Job.
	ManagedBy = "aias.dev/run-controller"

	// InstallContainer is the init container that copies the step runtime out of the
	// runner image into the shared BinVolume; StepContainer runs the step under step-run.
	InstallContainer = "aias-install"
	StepContainer    = "step"

	// ImageBinary is where the aias binary (manager, webhookserver, CLI) lives inside the
	// runner image; step Pods do not run it.
	ImageBinary = "/aias"
	// StepImageBinary is where the step runtime lives inside the runner image: the small
	// aias-step binary (cmd/aias-step), which has only `step-run` and `install-runner`.
	// The init container runs `aias-step install-runner <InstallPath>`.
	StepImageBinary = "/aias-step"
	// InstallCommand and StepRunCommand are the step runtime's two subcommands (the aias
	// binary has them too, sharing internal/steprun).
	InstallCommand = "install-runner"
	StepRunCommand = "step-run"

	// RuntimeDriver is the CSI driver (internal/stepcsi, `aias step-runtime-driver`) that
	// gives a step Pod the step runtime as an inline volume (BinVolume) when the manager
	// runs with --step-runtime=csi; the init container is not needed then.
	RuntimeDriver = "step-runtime.aias.dev"

	BinVolume = "aias-bin"
	BinDir    = "/aias/bin"
	// RunnerPath is the installed step runtime the step container executes:
	// `<RunnerPath> step-run -- <command>`.
	RunnerPath = BinDir + "/aias-step"
	// InstallDir is where the install container mounts BinVolume and InstallPath the
	// copy it writes there (RunnerPath in the step container). It cannot be BinDir: in
	// the runner image /aias is the aias binary, a file, and a runtime cannot mount a
	// directory under a file (runc refuses the container).
	InstallDir  = "/aias-install"
	InstallPath = InstallDir + "/aias-step"

	WorkVolume = "aias-work"
	WorkDir    = "/aias/work"     // AIAS_WORK_DIR: step-run writes the input file here
	OutputDir  = WorkDir + "/out" // AIAS_OUTPUT_DIR: every file here becomes an artifact

	// TokenKey is the key of the per-run token in the Run's token Secret.
	TokenKey = "token"
)
