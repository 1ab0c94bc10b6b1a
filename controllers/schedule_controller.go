package controllers

import (
	"context"
	"fmt"
	"time"
	_ "time/tzdata" // IANA zones even on an image without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runs"
)

// maxTickScan bounds the ticks walked to find the latest missed one (a schedule firing
// every minute, down for a month, is 43,200): past it the walk jumps ahead.
const maxTickScan = 500_000

// ScheduleReconciler starts one Run per tick of each Schedule. A tick's Run has a
// deterministic name (<schedule>-<tick in Unix seconds>), so however many times a tick is
// reconciled — after a restart, by a new leader — it starts at most one Run. Only the
// latest tick due is ever started: after downtime that is the one catch-up Run, and only
// within spec.startingDeadline when one is set.
type ScheduleReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=aias.dev,resources=schedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=schedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=create

// Reconcile starts the Run of the latest due tick, if any, and sleeps until the next one.
func (r *ScheduleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	sc := &aiasv1alpha1.Schedule{}
	if err := r.Get(ctx, req.NamespacedName, sc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !sc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := sc.DeepCopy()
	defer func() {
		settleStatusWrite(ctx, patchReadyStatus(ctx, r.Client, r.Recorder, "Schedule", "Schedule", before, sc, func(s *aiasv1alpha1.Schedule) readyStatus {
			return readyStatus{s.Status, s.Status.Conditions}
		}), &result, &retErr)
	}()
	sc.Status.ObservedGeneration = sc.Generation

	sched, loc, reason, err := parseSchedule(sc)
	if err != nil {
		sc.Status.NextScheduleTime = nil
		setScheduleReady(sc, metav1.ConditionFalse, reason, err.Error(), r.now())
		return ctrl.Result{}, nil
	}
	now := r.now().In(loc)
	next := sched.Next(now)
	sc.Status.NextScheduleTime = &metav1.Time{Time: next}
	wake := ctrl.Result{RequeueAfter: next.Sub(now) + 100*time.Millisecond}
	if sc.Spec.Suspend {
		setScheduleReady(sc, metav1.ConditionTrue, aiasv1alpha1.ReasonSuspended, "suspended: no Runs start while spec.suspend is true", r.now())
		return wake, nil
	}

	tick, due := latestTick(sched, r.anchor(sc).In(loc), now)
	if !due {
		setScheduleReady(sc, metav1.ConditionTrue, aiasv1alpha1.ReasonScheduled, fmt.Sprintf("next Run at %s", next.UTC().Format(time.RFC3339)), r.now())
		return wake, nil
	}
	if d := sc.Spec.StartingDeadline; d != nil && now.Sub(tick) > d.Duration {
		// Too late for this tick; it is recorded as handled so that it is not retried.
		msg := fmt.Sprintf("the tick at %s was missed by more than spec.startingDeadline (%s); next Run at %s",
			tick.UTC().Format(time.RFC3339), d.Duration, next.UTC().Format(time.RFC3339))
		r.Recorder.Eventf(sc, nil, corev1.EventTypeWarning, aiasv1alpha1.ReasonMissedDeadline, "Schedule", "%s", msg)
		sc.Status.LastScheduleTime = &metav1.Time{Time: tick}
		setScheduleReady(sc, metav1.ConditionTrue, aiasv1alpha1.ReasonMissedDeadline, msg, r.now())
		return wake, nil
	}
	run, err := r.startRun(ctx, sc, tick)
	if err != nil {
		return ctrl.Result{}, err
	}
	sc.Status.LastScheduleTime = &metav1.Time{Time: tick}
	sc.Status.LastRun = run
	setScheduleReady(sc, metav1.ConditionTrue, aiasv1alpha1.ReasonScheduled, fmt.Sprintf("started %s for %s; next Run at %s",
		run, tick.UTC().Format(time.RFC3339), next.UTC().Format(time.RFC3339)), r.now())
	return wake, nil
}

// parseSchedule reads the cron expression in the Schedule's time zone.
func parseSchedule(sc *aiasv1alpha1.Schedule) (cron.Schedule, *time.Location, string, error) {
	loc := time.UTC
	if tz := sc.Spec.TimeZone; tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, nil, aiasv1alpha1.ReasonInvalidTimeZone, fmt.Errorf("spec.timeZone: %q is not an IANA time zone", tz)
		}
		loc = l
	}
	sched, err := cron.ParseStandard(sc.Spec.Cron)
	if err != nil {
		return nil, nil, aiasv1alpha1.ReasonInvalidSchedule, fmt.Errorf("spec.cron: %v", err)
	}
	return sched, loc, "", nil
}

// anchor is the time after which ticks count: the last handled tick, else the
// Schedule's creation (a new Schedule does not start Runs for ticks before it existed).
func (r *ScheduleReconciler) anchor(sc *aiasv1alpha1.Schedule) time.Time {
	if t := sc.Status.LastScheduleTime; t != nil {
		return t.Time
	}
	return sc.CreationTimestamp.Time
}

// latestTick is the latest tick after anchor and at or before now.
func latestTick(sched cron.Schedule, anchor, now time.Time) (time.Time, bool) {
	var latest time.Time
	t := anchor
	for range maxTickScan {
		n := sched.Next(t)
		if n.IsZero() || n.After(now) {
			return latest, !latest.IsZero()
		}
		latest, t = n, n
	}
	// So many ticks missed that walking them is pointless: look only at the last hours.
	return latestTick(sched, now.Add(-24*time.Hour), now)
}

// startRun creates the tick's Run (or finds it) and returns its name.
func (r *ScheduleReconciler) startRun(ctx context.Context, sc *aiasv1alpha1.Schedule, tick time.Time) (string, error) {
	run, err := runs.New(runs.Request{
		Namespace: sc.Namespace, Workflow: sc.Spec.WorkflowRef,
		Trigger: aiasv1alpha1.TriggerSchedule, Source: runs.Source{Name: sc.Name, UID: string(sc.UID)},
		Tick: tick, Params: sc.Spec.Params,
		Owner: metav1.NewControllerRef(sc, aiasv1alpha1.GroupVersion.WithKind("Schedule")),
	})
	if err != nil {
		return "", err
	}
	name := run.Name
	err = r.Create(ctx, run)
	switch {
	case err == nil:
		r.Recorder.Eventf(sc, run, corev1.EventTypeNormal, aiasv1alpha1.ReasonRunStarted, "Schedule", "started run %s for the tick at %s", name, tick.UTC().Format(time.RFC3339))
	case apierrors.IsAlreadyExists(err):
		// This tick was started before (a restart, another leader): nothing more to do.
	default:
		return "", fmt.Errorf("creating run %s for the tick at %s: %w", name, tick.UTC().Format(time.RFC3339), err)
	}
	return name, nil
}

func (r *ScheduleReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager watches Schedules; their own status writes need no reconcile.
func (r *ScheduleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("aias-schedule")
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("schedule").
		For(&aiasv1alpha1.Schedule{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
