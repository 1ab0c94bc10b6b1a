package controllers

import (
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

// childTracker remembers the step Pods this process created or saw, the way the Job
// controller keeps "expectations": a Run reconciled again before the informer caught up
// with a Pod it just created must neither read the apiserver for it nor take it for
// deleted; and a Pod that vanishes after it was seen was deleted, not never created.
//
// It also remembers the Jobs whose terminal status this process wrote, until their Run
// has finished: the cache may still show such a Job unfinished, and a Run that finishes
// in the same reconcile must not take it for an attempt to stop.
type childTracker struct {
	created  sync.Map // Job UID → time.Time the Pod was created here
	seen     sync.Map // Job UID → struct{}: its Pod was in the cache once
	finished sync.Map // Job UID → struct{}: its terminal status was written here
	// refused: Job UID → struct{}: the apiserver answered this process's create of the
	// Pod with a refusal a retry may cure (the namespace's ServiceAccount not created
	// yet, a quota, a webhook down), so the Pod is missing because it never was.
	refused sync.Map
}

func (c *childTracker) jobFinished(job *batchv1.Job) { c.finished.Store(job.UID, struct{}{}) }

// jobWrittenFinished reports a Job whose terminal status this process wrote.
func (c *childTracker) jobWrittenFinished(uid types.UID) bool {
	_, ok := c.finished.Load(uid)
	return ok
}

// runFinished drops what is remembered of a finished Run's Jobs.
func (c *childTracker) runFinished(jobs []batchv1.Job) {
	for i := range jobs {
		c.finished.Delete(jobs[i].UID)
	}
}

// expectWindow is how long a Pod created here is assumed to be on its way to the cache
// rather than gone; past it, a direct read decides.
const expectWindow = time.Second

func (c *childTracker) podCreated(job *batchv1.Job) {
	c.created.Store(job.UID, time.Now())
	c.refused.Delete(job.UID)
}

// podRefused notes a create of the Job's Pod that the apiserver refused (nothing created).
func (c *childTracker) podRefused(job *batchv1.Job) { c.refused.Store(job.UID, struct{}{}) }

// podNeverCreated reports that every create of the Job's Pod this process made was
// refused: its absence is no deletion, however long the refusals lasted.
func (c *childTracker) podNeverCreated(job *batchv1.Job) bool {
	_, refused := c.refused.Load(job.UID)
	return refused && !c.podKnown(job)
}

// podExpected reports a Pod created here a moment ago that the cache may not show yet.
func (c *childTracker) podExpected(job *batchv1.Job) bool {
	t, ok := c.created.Load(job.UID)
	return ok && time.Since(t.(time.Time)) < expectWindow
}

func (c *childTracker) podSeen(job *batchv1.Job) {
	if _, ok := c.seen.Load(job.UID); !ok {
		c.seen.Store(job.UID, struct{}{})
	}
	c.created.Delete(job.UID)
}

// podKnown reports that this process created or saw the Job's Pod.
func (c *childTracker) podKnown(job *batchv1.Job) bool {
	_, seen := c.seen.Load(job.UID)
	_, created := c.created.Load(job.UID)
	return seen || created
}

// forget drops what is remembered of a finished attempt.
func (c *childTracker) forget(uid types.UID) {
	c.created.Delete(uid)
	c.seen.Delete(uid)
	c.refused.Delete(uid)
}
