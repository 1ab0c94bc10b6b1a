package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ScheduleSpec starts Runs of a Workflow on a cron schedule.
type ScheduleSpec struct {
	// WorkflowRef is the Workflow, in this namespace, each tick starts.
	// +required
	WorkflowRef WorkflowReference `json:"workflowRef"`

	// Cron is a standard five-field cron expression (minute hour day-of-month month
	// day-of-week) or a macro: @yearly, @monthly, @weekly, @daily, @hourly, @every <duration>.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Cron string `json:"cron"`

	// TimeZone is the IANA zone the cron expression is read in (default UTC).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// Params are the Runs' parameter values (the Workflow's spec.params).
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]*$') && size(k) <= 63)",message="parameter names are letters, digits and underscores (at most 63), not starting with a digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 4096)",message="a parameter value is at most 4096 bytes"
	Params map[string]string `json:"params,omitempty"`

	// Suspend stops new Runs while true; ticks missed meanwhile are not made up for.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// StartingDeadline bounds how late a tick may still start its Run (after the manager
	// was down, say). Absent, a missed tick starts late however long ago it was. Either
	// way only the latest missed tick starts: at most one catch-up Run.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	StartingDeadline *metav1.Duration `json:"startingDeadline,omitempty"`
}

// ScheduleStatus reports the schedule's ticks.
type ScheduleStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScheduleTime is the tick whose Run was started last.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// NextScheduleTime is the next tick.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// LastRun names the Run of the last tick.
	// +optional
	LastRun string `json:"lastRun,omitempty"`
	// Conditions: Ready says whether the cron expression and time zone are usable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=asc,categories=aias
// +kubebuilder:printcolumn:name="Workflow",type=string,JSONPath=`.spec.workflowRef.name`
// +kubebuilder:printcolumn:name="Cron",type=string,JSONPath=`.spec.cron`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`
// +kubebuilder:printcolumn:name="Last Run",type=string,JSONPath=`.status.lastRun`
// +kubebuilder:printcolumn:name="Next",type=date,JSONPath=`.status.nextScheduleTime`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Schedule starts one Run of a Workflow per cron tick.
type Schedule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ScheduleSpec `json:"spec"`
	// +optional
	Status ScheduleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ScheduleList is a list of Schedules.
type ScheduleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Schedule `json:"items"`
}

func init() {
	register(&Schedule{}, &ScheduleList{})
}
