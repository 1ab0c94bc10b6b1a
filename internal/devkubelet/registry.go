package devkubelet

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The registry of pods: which Jobs run in this process, which ran here to an end, and
// which were stopped for spec.suspend. Every access holds k.mu.

// register records a pod for the Job, or returns nil when the Job already has one or
// the dev kubelet is stopping.
func (k *Kubelet) register(job *batchv1.Job, plan *podPlan) *pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopping || k.pods[job.UID] != nil {
		return nil
	}
	p := newPod(k.base, job, plan)
	k.pods[job.UID] = p
	k.names[p.key] = job.UID
	delete(k.suspended, job.UID)
	k.wg.Add(1)
	return p
}

// unregister drops a pod that never ran; its Job may still start later.
func (k *Kubelet) unregister(p *pod) {
	k.mu.Lock()
	delete(k.pods, p.uid)
	if k.names[p.key] == p.uid {
		delete(k.names, p.key)
	}
	k.mu.Unlock()
	p.cancel(nil)
	k.wg.Done()
}

// forget removes a pod whose processes are gone; a suspended Job may run again, any
// other never does in this process.
func (k *Kubelet) forget(p *pod, suspended bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pods, p.uid)
	if k.names[p.key] == p.uid {
		delete(k.names, p.key)
	}
	if suspended {
		k.suspended[p.uid] = true
	} else {
		k.done[p.uid] = true
	}
}

// stop ends the Job's pod, if any, for cause; the pod goroutine does the killing.
func (k *Kubelet) stop(uid types.UID, cause error) {
	k.mu.Lock()
	p := k.pods[uid]
	k.mu.Unlock()
	if p != nil {
		p.cancel(cause)
	}
}

// stopName ends the pod running under name unless it belongs to the Job keep.
func (k *Kubelet) stopName(name types.NamespacedName, keep types.UID, cause error) {
	k.mu.Lock()
	uid, ok := k.names[name]
	k.mu.Unlock()
	if ok && uid != keep {
		k.stop(uid, cause)
	}
}
