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

// stepLabels are on the Job and its pods, for `kubectl get jobs,pods -l aias.dev/run=<run>`
// (and `-l aias.dev/step=<step>` for every item of a forEach step).
func stepLabels(run *aiasv1alpha1.Run, u attemptUnit, attempt int32) map[string]string {
	labels := map[string]string{
		aiasv1alpha1.LabelRun:       run.Name,
		aiasv1alpha1.LabelRunUID:    string(run.UID),
		aiasv1alpha1.LabelStep:      u.step,
		aiasv1alpha1.LabelAttempt:   strconv.Itoa(int(attempt)),
		aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias,
	}
	if u.item >= 0 {
		labels[aiasv1alpha1.LabelItem] = strconv.Itoa(u.item)
	}
	return labels
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

// stepPod is a step attempt's Pod as built from the frozen Workflow spec, before any Job
// owns it: the one thing a step Pod is made from. A Job read from the cache has no pod
// template (internal/manager's jobTransform strips Job specs), so a Pod made from a
// cached Job would silently be an empty one; no function here takes a Job's template.
type stepPod struct {
	template corev1.PodTemplateSpec
	// activeDeadlineSeconds is the step timeout, for the Job and the Pod alike.
	activeDeadlineSeconds *int64
}

// buildJob is the Job of one step attempt (see DESIGN.md "Steps and outputs"), and the
// Pod it runs.
func (r *RunReconciler) buildJob(run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec, u attemptUnit, attempt int32) (*batchv1.Job, stepPod, error) {
	pod := r.buildStepPod(run, spec, u, attempt)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName(run.Name, u.name, attempt), Namespace: run.Namespace, Labels: stepLabels(run, u, attempt)},
		Spec: batchv1.JobSpec{
			// The Run controller creates the Job's one Pod and writes the Job's status: the
			// cluster's Job controller, rate-limited and shared by every Job of the cluster,
			// never touches it (see stepjob.ManagedBy).
			ManagedBy: ptr.To(stepjob.ManagedBy),
			// The Run controller retries with a new attempt (a new Job), so each Job runs once.
			BackoffLimit:          ptr.To[int32](0),
			Template:              *pod.template.DeepCopy(),
			ActiveDeadlineSeconds: pod.activeDeadlineSeconds,
		},
	}
	if err := controllerutil.SetControllerReference(run, job, r.Scheme); err != nil {
		return nil, stepPod{}, err
	}
	return job, pod, nil
}

// buildStepPod is the Pod of attempt number attempt of u, from the frozen spec (for an
// item, attemptSpec's: its references resolved and $AIAS_ITEM set).
func (r *RunReconciler) buildStepPod(run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec, u attemptUnit, attempt int32) stepPod {
	i := u.index
	step := spec.Steps[i]
	labels := stepLabels(run, u, attempt)
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
			Step: u.name, Attempt: int(attempt), Expires: r.Now().Add(ticketLifetime(spec, step)),
		})},
		corev1.EnvVar{Name: stepjob.EnvNamespace, Value: run.Namespace},
		corev1.EnvVar{Name: stepjob.EnvRun, Value: run.Name},
		corev1.EnvVar{Name: stepjob.EnvStep, Value: u.name},
		corev1.EnvVar{Name: stepjob.EnvAttempt, Value: strconv.Itoa(int(attempt))},
		corev1.EnvVar{Name: stepjob.EnvFrom, Value: strings.Join(inputSteps(run.Status.Steps, spec, i), ",")},
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
	pod := stepPod{template: corev1.PodTemplateSpec{
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
			Containers: []corev1.Container{{
				Name:    stepjob.StepContainer,
				Image:   step.Image,
				Command: append([]string{stepjob.RunnerPath, stepjob.StepRunCommand, "--"}, step.Command...),
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
				{Name: stepjob.WorkVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}}
	ps := &pod.template.Spec
	r.StepRuntime.install(ps, r.RunnerImage, restricted)
	place := spec.Placement(&step)
	ps.NodeSelector, ps.Tolerations, ps.Affinity = place.NodeSelector, place.Tolerations, place.Affinity
	ps.PriorityClassName, ps.RuntimeClassName, ps.ImagePullSecrets = place.PriorityClassName, place.RuntimeClassName, place.ImagePullSecrets
	for _, v := range place.Volumes {
		ps.Volumes = append(ps.Volumes, v.PodVolume())
	}
	readOnly := map[string]bool{}
	for _, v := range place.Volumes {
		readOnly[v.Name] = v.ConfigMap != nil || v.Secret != nil
	}
	for _, m := range place.VolumeMounts {
		m.ReadOnly = m.ReadOnly || readOnly[m.Name]
		ps.Containers[0].VolumeMounts = append(ps.Containers[0].VolumeMounts, m)
	}
	if step.Timeout != nil {
		pod.activeDeadlineSeconds = ptr.To(max(int64(step.Timeout.Seconds()), 1))
	}
	return pod
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

// buildPod is the attempt's one Pod, made from the frozen spec (p) as the Job controller
// would make it from the Job's template: the Job's name (one Pod per Job, so the name is
// the Job's and a second create finds the first), the labels the apiserver puts on a
// Job's template (its selector among them), a controller reference to the Job, and the
// step timeout as activeDeadlineSeconds so the kubelet stops it in time whoever watches.
// Of the Job it reads only who it is (name, namespace, UID), which a cached Job keeps.
func buildPod(p stepPod, job *batchv1.Job) *corev1.Pod {
	tmpl := p.template.DeepCopy()
	labels := tmpl.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range jobPodLabels(job) {
		labels[k] = v
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: job.Namespace,
			Labels: labels, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.ActiveDeadlineSeconds = p.activeDeadlineSeconds
	return pod
}

// jobPodLabels are the labels the apiserver adds to a Job's pod template when it
// generates the Job's selector (the legacy names too, as it still writes them).
func jobPodLabels(job *batchv1.Job) map[string]string {
	return map[string]string{
		batchv1.ControllerUidLabel: string(job.UID), "controller-uid": string(job.UID),
		batchv1.JobNameLabel: job.Name, "job-name": job.Name,
	}
}

// createPod creates the Job's Pod from p, or finds it when it exists and is the Job's.
// A Pod that admission refuses for good (Pod Security, an invalid spec) is reported as
// refused, with the apiserver's message, instead of as an error to retry.
func (r *RunReconciler) createPod(ctx context.Context, p stepPod, job *batchv1.Job) (refused string, err error) {
	pod := buildPod(p, job)
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

// inputSteps are the steps whose results make step i's input: its dependencies less
// those that were skipped (a depends join after exclusive branches reads the branch that
// ran), with an approval gate replaced by its own (a gate has no result: the step after
// it reads what the gate's dependencies produced). With none left the step reads the
// Run's input, as a step with no dependency does.
func inputSteps(steps []aiasv1alpha1.StepStatus, spec *aiasv1alpha1.WorkflowSpec, i int) []string {
	index := make(map[string]int, len(spec.Steps))
	for j := range spec.Steps {
		index[spec.Steps[j].Name] = j
	}
	skipped := map[string]bool{}
	for _, st := range steps {
		skipped[st.Name] = st.Phase == aiasv1alpha1.StepSkipped
	}
	var out []string
	seen := map[string]bool{}
	var add func(deps []string)
	add = func(deps []string) {
		for _, dep := range deps {
			if seen[dep] || skipped[dep] {
				continue
			}
			seen[dep] = true
			if j, ok := index[dep]; ok && j < i && spec.Steps[j].Approval != nil {
				add(spec.StepDependencies(j))
				continue
			}
			out = append(out, dep)
		}
	}
	add(spec.StepDependencies(i))
	return out
}
