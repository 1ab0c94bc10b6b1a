// Package stepjob is the contract between the Run controller, which turns a step attempt
// into a Kubernetes Job, and whatever runs that Job's pod: a real kubelet, or the dev
// kubelet under envtest. Names here are what users see in `kubectl get jobs -L ...`.
package stepjob

const (
	// InstallContainer is the init container that copies the aias binary out of the
	// runner image into the shared BinVolume; StepContainer runs the step under step-run.
	InstallContainer = "aias-install"
	StepContainer    = "step"

	// ImageBinary is where the aias binary lives inside the runner image.
	ImageBinary = "/aias"
	// InstallCommand is the subcommand the init container runs: `aias install-runner <dst>`.
	InstallCommand = "install-runner"

	BinVolume  = "aias-bin"
	BinDir     = "/aias/bin"
	RunnerPath = BinDir + "/aias" // the binary the step container executes

	WorkVolume = "aias-work"
	WorkDir    = "/aias/work"     // AIAS_WORK_DIR: step-run writes the input file here
	OutputDir  = WorkDir + "/out" // AIAS_OUTPUT_DIR: every file here becomes an artifact

	// TokenKey is the key of the per-run token in the Run's token Secret.
	TokenKey = "token"
)
