{{/*
Chart name, used for the app.kubernetes.io/name label.
*/}}
{{- define "aias.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of every object. Release-independent on purpose: it defaults to "aias",
so objects are named aias-manager, aias-leader-election, aias-metrics-reader and
aias-manager-metrics (the same names config/default uses). Truncated so that
"<fullname>-leader-election" still fits in 63 characters.
*/}}
{{- define "aias.fullname" -}}
{{- default "aias" .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "aias.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "aias.labels" -}}
helm.sh/chart: {{ include "aias.chart" . }}
{{ include "aias.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aias
{{- end }}

{{/*
Selector labels of the manager pods (Deployment selector, metrics Service selector).
*/}}
{{- define "aias.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aias.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
Name of the manager's ServiceAccount (also used for the Deployment and the manager ClusterRole).
*/}}
{{- define "aias.managerName" -}}
{{- include "aias.fullname" . }}-manager
{{- end }}

{{/*
Manager image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "aias.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
