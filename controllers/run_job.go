package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
)

// stepUser is the uid and gid step containers run as. Pod Security "restricted" demands a
// non-root user; naming one lets images that default to root (debian, alpine, busybox)
// run unchanged instead of failing with "image will run as root".
const stepUser = 65532

// stepLabels are on the Job and its pods, for `kubectl get jobs,pods -l aias.dev/run=<run>`.
func stepLabels(run *aiasv1alpha1.Run, step string, attempt int32) map[string]string {
	return map[string]string{
		aiasv1alpha1.LabelRun:       run.Name,
		aiasv1alpha1.LabelRunUID:    string(run.UID),
		aiasv1alpha1.LabelStep:      step,
		aiasv1alpha1.LabelAttempt:   strconv.Itoa(int(attempt)),
		aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias,
	}
}

// ticketLifetime is how long an attempt's ticket is accepted: the step's timeout, else
// the Run's, else a week, plus time to upload its last logs and artifacts after the
// command ended. The step API also refuses it as soon as the attempt or the Run ends;
// the deadline bounds a ticket whose end was never recorded (a killed Pod).
func ticketLifetime(spec *aiasv1alpha1.WorkflowSpec, step aiasv1alpha1.WorkflowStep) time.Duration {
	const uploadGrace = 15 * time.Minute
	switch {
	case step.Timeout != nil:
		return step.Timeout.Duration + uploadGrace
	case spec.Timeout != nil:
		return spec.Timeout.Duration + uploadGrace
	}
	return 7*24*time.Hour + uploadGrace
}

// buildJob is the Job of one step attempt (see DESIGN.md "Steps and outputs").
func (r *RunReconciler) buildJob(run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec, i int, attempt int32) (*batchv1.Job, error) {
	step := spec.Steps[i]
	labels := stepLabels(run, step.Name, attempt)
	env := append([]corev1.EnvVar{}, step.Env...)
	// AIAS variables come last: for duplicate names the last entry wins, so a step cannot
	// point step-run at another run or API by accident.
	env = append(env,
		corev1.EnvVar{Name: stepjob.EnvAPIURL, Value: r.InternalAPIURL},
		corev1.EnvVar{Name: stepjob.EnvToken, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: tokenSecretName(run.Name)}, Key: stepjob.TokenKey}}},
		// Not a secret on its own (the run token is): it names the attempt and its deadline.
		corev1.EnvVar{Name: stepjob.EnvTicket, Value: r.Tokens.IssueAttempt(steptoken.Attempt{
			Run:  steptoken.Run{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)},
			Step: step.Name, Attempt: int(attempt), Expires: r.Now().Add(ticketLifetime(spec, step)),
		})},
		corev1.EnvVar{Name: stepjob.EnvNamespace, Value: run.Namespace},
		corev1.EnvVar{Name: stepjob.EnvRun, Value: run.Name},
		corev1.EnvVar{Name: stepjob.EnvStep, Value: step.Name},
		corev1.EnvVar{Name: stepjob.EnvAttempt, Value: strconv.Itoa(int(attempt))},
		corev1.EnvVar{Name: stepjob.EnvFrom, Value: strings.Join(spec.StepDependencies(i), ",")},
		corev1.EnvVar{Name: stepjob.EnvWorkDir, Value: stepjob.WorkDir},
		corev1.EnvVar{Name: stepjob.EnvOutputDir, Value: stepjob.OutputDir},
	)
	restricted := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	var resources corev1.ResourceRequirements
	if step.Resources != nil {
		resources = *step.Resources
	}
	stepSecurity := stepSecurityContext(restricted, step.SecurityContext)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName(run.Name, step.Name, attempt), Namespace: run.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// The Run controller creates the Job's one Pod and writes the Job's status: the
			// cluster's Job controller, rate-limited and shared by every Job of the cluster,
			// never touches it (see stepjob.ManagedBy).
			ManagedBy: ptr.To(stepjob.ManagedBy),
			// The Run controller retries with a new attempt (a new Job), so each Job runs once.
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           spec.ServiceAccountName,
					AutomountServiceAccountToken: ptr.To(spec.ServiceAccountName != ""),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](stepUser),
						RunAsGroup:     ptr.To[int64](stepUser),
						FSGroup:        ptr.To[int64](stepUser),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					InitContainers: []corev1.Container{{
						Name:            stepjob.InstallContainer,
						Image:           r.RunnerImage,
						Command:         []string{stepjob.ImageBinary, stepjob.InstallCommand, stepjob.InstallPath},
						VolumeMounts:    []corev1.VolumeMount{{Name: stepjob.BinVolume, MountPath: stepjob.InstallDir}},
						SecurityContext: restricted,
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
						},
					}},
					Containers: []corev1.Container{{
						Name:    stepjob.StepContainer,
						Image:   step.Image,
						Command: append([]string{stepjob.RunnerPath, "step-run", "--"}, step.Command...),
						Args:    step.Args,
						Env:     env,
						VolumeMounts: []corev1.VolumeMount{
							{Name: stepjob.BinVolume, MountPath: stepjob.BinDir, ReadOnly: true},
							{Name: stepjob.WorkVolume, MountPath: stepjob.WorkDir},
						},
						Resources:       resources,
						SecurityContext: stepSecurity,
					}},
					Volumes: []corev1.Volume{
						{Name: stepjob.BinVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: stepjob.WorkVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
	if step.Timeout != nil {
		job.Spec.ActiveDeadlineSeconds = ptr.To(max(int64(step.Timeout.Seconds()), 1))
	}
	if err := controllerutil.SetControllerReference(run, job, r.Scheme); err != nil {
		return nil, err
	}
	return job, nil
}

// stepSecurityContext is the step container's: restricted, as the step's own user and
// group when it names them. Root (uid 0) must also drop runAsNonRoot, which Pod Security
// "restricted" then refuses: the refusal is the answer in such namespaces, and elsewhere
// the step runs as root as asked.
func stepSecurityContext(restricted *corev1.SecurityContext, asked *aiasv1alpha1.StepSecurityContext) *corev1.SecurityContext {
	if asked == nil {
		return restricted
	}
	sc := restricted.DeepCopy()
	sc.RunAsUser, sc.RunAsGroup = asked.RunAsUser, asked.RunAsGroup
	if asked.RunAsUser != nil && *asked.RunAsUser == 0 {
		sc.RunAsNonRoot = ptr.To(false)
	}
	return sc
}

// createJob creates the attempt's Job and returns it as stored (with the selector and
// template labels the apiserver adds). When it exists already (a reconcile that crashed
// after creating it, or a stale cache) it is adopted only if it is this Run's.
func (r *RunReconciler) createJob(ctx context.Context, run *aiasv1alpha1.Run, job *batchv1.Job) (*batchv1.Job, error) {
	existing := &batchv1.Job{}
	created, err := r.createOrAdopt(ctx, run, job, existing)
	if err != nil {
		return nil, err
	}
	if !created {
		return existing, nil
	}
	return job, nil
}

// buildPod is the attempt's one Pod, made from its Job's template as the Job controller
// would make it: the Job's name (one Pod per Job, so the name is the Job's and a second
// create finds the first), the template's labels (the Job's selector included), a
// controller reference to the Job, and the step timeout as activeDeadlineSeconds so the
// kubelet stops it in time whoever watches.
func buildPod(job *batchv1.Job) *corev1.Pod {
	tmpl := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: job.Namespace,
			Labels: tmpl.Labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.ActiveDeadlineSeconds = job.Spec.ActiveDeadlineSeconds
	return pod
}

// createPod creates the Job's Pod, or finds it when it exists and is the Job's. A Pod
// that admission refuses for good (Pod Security, an invalid spec) is reported as
// refused, with the apiserver's message, instead of as an error to retry.
func (r *RunReconciler) createPod(ctx context.Context, job *batchv1.Job) (refused string, err error) {
	pod := buildPod(job)
	err = r.Create(ctx, pod)
	switch {
	case err == nil:
		r.children.podCreated(job)
		return "", nil
	case apierrors.IsAlreadyExists(err):
		existing := &corev1.Pod{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), existing); err != nil {
			return "", err
		}
		if !metav1.IsControlledBy(existing, job) {
			return "", fmt.Errorf("pod %s already exists and belongs to another Job; it is left alone", pod.Name)
		}
		return "", nil
	case permanentlyRefused(err):
		return err.Error(), nil
	case answeredRefusal(err):
		r.children.podRefused(job)
	}
	return "", err
}

// answeredRefusal tells a create the apiserver answered and did not carry out (a status
// other than a timeout) from one whose outcome is unknown (a timeout, a broken
// connection: the Pod may exist).
func answeredRefusal(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status) && !apierrors.IsTimeout(err) && !apierrors.IsServerTimeout(err) &&
		!apierrors.IsInternalError(err) && !apierrors.IsUnexpectedServerError(err)
}

// permanentlyRefused tells an admission refusal that a retry cannot cure (Pod Security
// "restricted", an invalid Pod) from one that can (a ServiceAccount not created yet, a
// ResourceQuota momentarily exhausted, a webhook down).
func permanentlyRefused(err error) bool {
	if apierrors.IsInvalid(err) {
		return true
	}
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity")
}

// createOrAdopt creates a child of the Run under its deterministic name. If the name is
// taken, the existing object is adopted when its aias.dev/run-uid label says it is this
// Run's, and left alone otherwise (the child of an earlier Run of the same name, which
// the garbage collector will remove). existing is an empty object of the child's kind.
// It reports whether obj was created (else existing holds the adopted object).
func (r *RunReconciler) createOrAdopt(ctx context.Context, run *aiasv1alpha1.Run, obj, existing client.Object) (bool, error) {
	err := r.Create(ctx, obj)
	if err == nil {
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, err
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return false, err
	}
	if uid := existing.GetLabels()[aiasv1alpha1.LabelRunUID]; uid != string(run.UID) {
		return false, fmt.Errorf("%s already exists and belongs to another run (uid %q); it is left alone", obj.GetName(), uid)
	}
	return false, nil
}

// ensureTokenSecret creates the Secret holding the Run's step token, owned by the Run.
func (r *RunReconciler) ensureTokenSecret(ctx context.Context, run *aiasv1alpha1.Run) error {
	token := r.Tokens.Issue(steptoken.Run{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: tokenSecretName(run.Name), Namespace: run.Namespace,
			Labels: map[string]string{aiasv1alpha1.LabelRun: run.Name, aiasv1alpha1.LabelRunUID: string(run.UID), aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias},
		},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{stepjob.TokenKey: token},
	}
	if err := controllerutil.SetControllerReference(run, secret, r.Scheme); err != nil {
		return err
	}
	_, err := r.createOrAdopt(ctx, run, secret, &corev1.Secret{})
	return err
}
