package devkubelet

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Instant mode (benchmarks only): a Job is complete the moment the dev kubelet sees it.
// Nothing runs and nothing reaches the AIAS store (no step outcome, no result artifact),
// which the Run controller takes as a step that succeeded without output. The whole
// life of the pod is one status write, startTime through Complete, where a real
// cluster's kubelet and Job controller write several times (pod create and status
// updates, Job status on start and on completion).

// completeInstantly writes the finished status onto the Job as the cache holds it: a
// step Job is written by nobody else before it runs, so that write rarely conflicts and
// costs no extra read. On a conflict it falls back to writeComplete, which reads the Job
// afresh and writes nothing when the Job finished meanwhile.
func (k *Kubelet) completeInstantly(ctx context.Context, job *batchv1.Job) error {
	k.mu.Lock()
	done := k.done[job.UID]
	k.mu.Unlock()
	if done {
		return nil // written already; the cache has not caught up yet
	}
	j := job.DeepCopy()
	now := metav1.Now().Rfc3339Copy()
	if j.Status.StartTime == nil {
		j.Status.StartTime = &now
	} else if now.Before(j.Status.StartTime) {
		now = *j.Status.StartTime
	}
	j.Status.Active = 0
	j.Status.Succeeded = 1
	j.Status.CompletionTime = &now
	settle(j)
	const msg = "Reached expected number of succeeded pods"
	setCondition(j, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msg, now)
	setCondition(j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, msg, now)
	err := k.Client.Status().Update(ctx, j)
	switch {
	case apierrors.IsConflict(err):
		err = k.writeComplete(ctx, job)
	case apierrors.IsNotFound(err):
		err = nil // deleted before it could finish: nothing to record
	}
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.done[job.UID] = true
	k.mu.Unlock()
	return nil
}
